"""STOW-RS of metadata and bulk data (PS3.18 §10.5.1.2.2 and §8.6.1.2): DICOM JSON data sets or
Native DICOM Model XML documents whose BulkDataURIs name other parts by Content-Location (or
Content-ID), rebuilt as Part 10 files so they take exactly the ``application/dicom`` path.

A BulkDataURI may name a later part, so every part is received first: metadata and bulk parts
stay spooled (past one in-memory budget for all of them they move to disk), and each instance
is built on its own, so only one instance's values are in memory at a time. A metadata document
is parsed whole, so it may not pass ``max_metadata_bytes`` (0xA700 for that part). Failures are
per instance: unreadable metadata is 0xC000, a reference to a part that is not there is 0xA900
(PS3.18 §10.5.3).
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

import orjson
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomcommon.dicom.elements import PIXEL_DATA_KEYS
from dicomcommon.dicom.mediatypes import PIXEL_MEDIA_TYPES
from dicomcommon.errors import FailureReason, InvalidInstance, PayloadTooLarge
from dicomcommon.web import multipart
from dicomcommon.web.multipart import MediaType, Part, to_part
from stow import nativexml

log = logging.getLogger(__name__)
JSON_TYPE = "application/dicom+json"
XML_TYPE = "application/dicom+xml"
METADATA_TYPES = frozenset({JSON_TYPE, XML_TYPE})
IN_MEMORY_BULK_BYTES = 16 << 20  # parts held in memory together; the rest go to disk
MAX_METADATA_BYTES = 64 << 20  # one metadata document, parsed whole (a setting's default)


class _MissingBulkData(Exception):
    """A BulkDataURI names no part of the request."""


class _UnusableBulkData(Exception):
    """A referenced part whose media type or transfer syntax cannot carry the value."""


async def instances(
    parts: AsyncIterator[Part],
    root_type: str,
    max_metadata_bytes: int = MAX_METADATA_BYTES,
    max_data_sets: int = multipart.PartLimits.max_parts,
) -> AsyncIterator[Part | InvalidInstance]:
    """Each data set of the request as a Part 10 part, or the reason it cannot be stored.
    Past ``max_data_sets`` in all (as past the parts limit of a multipart request) the rest of
    the request is refused (413), so one document of a million entries is not a million
    failures to report."""
    received = Received()
    count = 0
    try:
        async for part in parts:
            received.add(part, root_type)
        for metadata in received.metadata:
            if metadata.size > max_metadata_bytes:
                yield InvalidInstance(
                    f"a metadata part of {metadata.size} bytes is larger than the "
                    f"{max_metadata_bytes} bytes a document may have",
                    FailureReason.OUT_OF_RESOURCES,
                )
                continue
            for data_set in _data_sets(metadata):
                count += 1
                if count > max_data_sets:
                    raise PayloadTooLarge(f"more than {max_data_sets} data sets in one request")
                if isinstance(data_set, InvalidInstance):
                    yield data_set
                else:
                    yield await asyncio.to_thread(build, data_set, received)
    finally:
        received.close()


@dataclass
class Received:
    """The request's parts: metadata in order, bulk data by Content-Location / Content-ID."""

    metadata: list[Part] = field(default_factory=list)
    bulk: dict[str, list[Part]] = field(default_factory=dict)
    others: list[Part] = field(default_factory=list)
    in_memory: int = 0

    def add(self, part: Part, root_type: str) -> None:
        media = MediaType.parse(part.headers.get("content-type", root_type)).essence
        if media == root_type:
            self.metadata.append(part)
            self._budget(part)
            return
        keys = _reference_keys(part.headers)
        for key in keys:
            self.bulk.setdefault(key, []).append(part)
        if not keys:
            self.others.append(part)  # referenced by nothing; closed with the rest
        self._budget(part)

    def find(self, uri: str) -> list[Part]:
        found = self.bulk.get(uri.strip())
        if not found:
            raise _MissingBulkData(f"no part of the request has Content-Location {uri!r}")
        return found

    def _budget(self, part: Part) -> None:
        if not isinstance(part.body, io.BytesIO):
            return
        if self.in_memory + part.size <= IN_MEMORY_BULK_BYTES:
            self.in_memory += part.size
            return
        spilled = cast(BinaryIO, tempfile.TemporaryFile())  # noqa: SIM115
        spilled.write(part.body.getbuffer())
        spilled.seek(0)
        part.body = spilled

    def close(self) -> None:
        for part in self._all():
            part.close()

    def _all(self) -> Iterator[Part]:
        yield from self.metadata
        yield from self.others
        yield from {id(p): p for ps in self.bulk.values() for p in ps}.values()


def _reference_keys(headers: dict[str, str]) -> list[str]:
    """A part is named by its Content-Location, or by ``cid:`` and its Content-ID (RFC 2392)."""
    keys = []
    if location := headers.get("content-location", "").strip():
        keys.append(location)
    if content_id := headers.get("content-id", "").strip().strip("<>"):
        keys += [f"cid:{content_id}", content_id]
    return keys


def _data_sets(metadata: Part) -> Iterator[dict[str, Any] | InvalidInstance]:
    """DICOM JSON: an array of data sets (or one); XML: one NativeDicomModel per part."""
    metadata.body.seek(0)
    document = metadata.body.read()
    media = MediaType.parse(metadata.headers.get("content-type", JSON_TYPE)).essence
    try:
        parsed = nativexml.read(document) if media == XML_TYPE else orjson.loads(document)
    except (orjson.JSONDecodeError, nativexml.InvalidNativeXml) as exc:
        yield InvalidInstance(f"unreadable {media} metadata: {exc}")
        return
    for data_set in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(data_set, dict):
            yield data_set
        else:
            yield InvalidInstance(f"{media} metadata holds a {type(data_set).__name__}")


def build(data_set: dict[str, Any], received: Received) -> Part | InvalidInstance:
    """One DICOM JSON data set and its bulk data parts → a Part 10 file in a spooled part."""
    sop_class, sop_instance = _first_value(data_set, "00080016"), _first_value(data_set, "00080018")
    if not sop_class or not sop_instance:
        return InvalidInstance(
            "SOP Class UID or SOP Instance UID is missing",
            FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
            sop_class,
            sop_instance,
        )
    try:
        ds = _dataset(data_set, received)
        return to_part(ds)
    except _MissingBulkData as exc:
        reason = FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
        return InvalidInstance(str(exc), reason, sop_class, sop_instance)
    except Exception as exc:  # pydicom raises many kinds for malformed values
        log.info("cannot build %s from metadata: %s", sop_instance, exc)
        return InvalidInstance(f"cannot build the instance: {exc}", sop_class_uid=sop_class,
                               sop_instance_uid=sop_instance)  # fmt: skip


def _first_value(data_set: dict[str, Any], tag: str) -> str | None:
    """The first value of ``tag`` when it is text; None for anything else a client sent."""
    element = data_set.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    first = values[0] if isinstance(values, list) and values else None
    return first.strip() if isinstance(first, str) and first.strip() else None


def _dataset(data_set: dict[str, Any], received: Received) -> Dataset:
    """pydicom builds the data set; each BulkDataURI reads its part when it is reached."""
    pixels = _PixelData()

    def bulk_data(tag: str, vr: str, uri: str) -> bytes:
        found = received.find(uri)
        if tag.upper() in PIXEL_DATA_KEYS:
            return pixels.value(found)
        return b"".join(_read(part) for part in found)

    body = {k: v for k, v in data_set.items() if not k.startswith("0002")}  # file meta: ours
    ds = Dataset.from_json(body, bulk_data_uri_handler=bulk_data)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pixels.transfer_syntax
    if pixels.transfer_syntax.is_encapsulated and "PixelData" in ds:
        ds["PixelData"].VR = "OB"  # PS3.5 A.4: encapsulated pixel data is OB, undefined length
        ds["PixelData"].is_undefined_length = True
    return ds


@dataclass
class _PixelData:
    """Pixel data parts: native bytes as they are; compressed frames, one per part, are
    encapsulated (PS3.5 A.4) under the transfer syntax their media type names."""

    transfer_syntax: UID = ExplicitVRLittleEndian

    def value(self, parts: list[Part]) -> bytes:
        self.transfer_syntax = _transfer_syntax(MediaType.parse(parts[0].content_type))
        if not self.transfer_syntax.is_encapsulated:
            return b"".join(_read(part) for part in parts)
        frames = [_read(part) for part in parts]
        return bytes(encapsulate(frames, has_bot=len(frames) > 1))


def _transfer_syntax(media: MediaType) -> UID:
    known = PIXEL_MEDIA_TYPES.get(media.essence)
    if known is None:
        raise _UnusableBulkData(f"pixel data of media type {media.essence!r} is not supported")
    default = UID(known.default)
    uid = UID(media.params.get("transfer-syntax", default))
    if not uid.is_transfer_syntax or uid.is_encapsulated != default.is_encapsulated:
        raise _UnusableBulkData(f"transfer syntax {uid!r} does not fit {media.essence}")
    if not uid.is_little_endian or uid.is_deflated:
        raise _UnusableBulkData(f"bulk data is little endian, not {uid.name}")
    return uid


def _read(part: Part) -> bytes:
    part.body.seek(0)
    return part.body.read()
