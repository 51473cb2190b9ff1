"""Read one stored part: parse its header, validate it, and compute what retrieval needs.

Everything is computed once at ingest (PS3.18 §10.5 → index): the DICOM JSON metadata with
BulkDataURIs for large binary values, where each frame's bytes sit in the blob, and the UIDs.
Pixel data is never loaded: its element is located and walked, not read.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import IO, Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicomcommon.adapters.events import Frame
from dicomcommon.dicom import headerwalk, inflation, pixeldata, rawjson, resources
from dicomcommon.dicom.elements import BINARY_VRS
from dicomcommon.dicom.uids import is_valid_uid
from dicomcommon.dicom.uids import transfer_syntax as transfer_syntax_uid
from dicomcommon.errors import FailureReason, InvalidInstance

BULK_THRESHOLD = 1024  # binary values above this size become BulkDataURIs

_REQUIRED_UIDS = (
    ("StudyInstanceUID", 0x0020000D),
    ("SeriesInstanceUID", 0x0020000E),
    ("SOPInstanceUID", 0x00080018),
    ("SOPClassUID", 0x00080016),
)


@dataclass
class Instance:
    """What ingest learned about one DICOM part."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    metadata: dict[str, Any]
    bulk_data: dict[str, tuple[int, int]]
    frames: list[Frame]
    size: int
    sha256: str
    warnings: list[str] = field(default_factory=list)

    @property
    def instance_path(self) -> str:
        return resources.instance_path(
            self.study_instance_uid, self.series_instance_uid, self.sop_instance_uid
        )


def read_instance(
    body: IO[bytes], size: int, expected_study: str | None = None, sha256: str | None = None
) -> Instance:
    """Parse and validate a part; raise ``InvalidInstance`` with the failure reason.
    ``sha256``: the part's digest when it was hashed as it was received (else read here).

    Whatever else goes wrong while reading one file (pydicom meeting a value it cannot convert,
    such as Number of Frames ``1A``) is that file's failure (0xC000), never the request's."""
    try:
        return _read_instance(body, size, expected_study, sha256)
    except InvalidInstance:
        raise
    except Exception as exc:
        raise InvalidInstance(
            f"not a readable DICOM file: {type(exc).__name__}: {str(exc)[:200]}"
        ) from exc


def _read_instance(
    body: IO[bytes], size: int, expected_study: str | None, sha256: str | None
) -> Instance:
    digest = sha256 or _sha256(body)
    body.seek(0)
    try:
        header = headerwalk.walk(body, BULK_THRESHOLD)
    except headerwalk.Truncated as exc:
        raise InvalidInstance(f"truncated file: {exc}", FailureReason.CANNOT_UNDERSTAND) from exc
    except (rawjson.Unsupported, struct.error, ValueError, IndexError, OSError):
        return _read_with_pydicom(body, size, expected_study, digest)  # the unusual files
    text = {kw: _first_text(header.metadata, tag) for kw, tag in _REQUIRED_UIDS}
    uids = _validated_uids(text, expected_study)
    header.set_bulk_base(_bulk_base(uids))
    frames = _pixel_data(
        header.pixel_description, body, header.pixel_start, size, header.transfer_syntax_uid,
        header.metadata, header.bulk_data, _bulk_base(uids),
    )  # fmt: skip
    return Instance(
        *uids, header.transfer_syntax_uid, header.metadata, header.bulk_data, frames, size, digest
    )


def _read_with_pydicom(
    body: IO[bytes], size: int, expected_study: str | None, digest: str
) -> Instance:
    """The general path: pydicom parses the header; it knows every encoding and oddity."""
    _require_bounded_inflation(body)
    body.seek(0)
    try:
        ds = pydicom.dcmread(body, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError, NotImplementedError) as e:
        raise InvalidInstance(f"not a readable DICOM file: {e}") from e
    pixel_start = body.tell()
    _require_complete(ds, pixel_start, size)
    text = {kw: str(ds.get(kw, "") or "") for kw, _ in _REQUIRED_UIDS}
    uids = _validated_uids(text, expected_study)
    transfer_syntax = _transfer_syntax(ds, uids)
    warnings: list[str] = []
    bulk: dict[str, tuple[int, int]] = {}
    base = _bulk_base(uids)
    metadata = _to_json(ds, base, "", bulk, warnings)
    frames = _pixel_data(ds, body, pixel_start, size, transfer_syntax, metadata, bulk, base)
    return Instance(
        *uids, transfer_syntax, metadata, bulk, frames, size, digest, warnings
    )  # fmt: skip


def _require_bounded_inflation(body: IO[bytes]) -> None:
    """A deflated data set is inflated in bounded steps first: one that would pass
    ``inflation.MAX_INFLATED_BYTES`` is refused (0xA700) before pydicom inflates it whole in
    memory, and one whose stream is cut short is a truncated file (0xC000)."""
    try:
        syntax, start = headerwalk.file_meta(body)
    except (rawjson.Unsupported, struct.error, ValueError, IndexError, OSError):
        return  # pydicom reads, or refuses, what the walk cannot
    if not UID(syntax).is_deflated:
        return
    found = inflation.measure(body, start)
    if found.size > inflation.MAX_INFLATED_BYTES:
        raise InvalidInstance(
            f"the deflated data set inflates past {inflation.MAX_INFLATED_BYTES} bytes",
            FailureReason.OUT_OF_RESOURCES,
        )
    if not found.complete:
        raise InvalidInstance(
            "truncated file: its deflated data set ends before the deflate stream does",
            FailureReason.CANNOT_UNDERSTAND,
        )


def _require_complete(ds: Dataset, stop: int, size: int) -> None:
    """pydicom reads a file cut short (an element whose length runs past the end) as if it
    ended there, warning only: the read then stops at the end of the file although its last
    element ends earlier. Such a file is refused (0xC000), never stored as complete."""
    if stop < size or not ds:
        return  # stopped at the pixel data: every element before it was read whole
    meta = getattr(ds, "file_meta", None) or {}
    if UID(str(meta.get("TransferSyntaxUID", ""))).is_deflated:
        return  # positions are in the inflated stream: inflating reports a cut itself
    last = ds.get_item(max(ds.keys()))
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF:
        return  # a sequence, read item by item: pydicom's read ended where it ended
    end = last.value_tell + last.length
    if end != size:
        raise InvalidInstance(
            f"truncated file: its last element ends at byte {end} of {size} (a value runs "
            "past the end of the file)",
            FailureReason.CANNOT_UNDERSTAND,
            str(ds.get("SOPClassUID", "") or "") or None,
            str(ds.get("SOPInstanceUID", "") or "") or None,
        )


def _bulk_base(uids: tuple[str, str, str, str]) -> str:
    return resources.bulk_data_base(uids[0], uids[1], uids[2])


def _first_text(metadata: dict[str, Any], tag: int) -> str:
    """A UID element's text. An element of another VR holds no UID: its values are read as
    text, which no UID check accepts (as the pydicom path reads them)."""
    element = metadata.get(f"{tag:08X}", {})
    values = element.get("Value") or [""]
    if element.get("vr", "UI") != "UI":
        return str(values)
    return str(values[0] or "")


def _sha256(body: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := body.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _validated_uids(text: dict[str, str], expected_study: str | None) -> tuple[str, str, str, str]:
    """The four UIDs (study, series, SOP instance, SOP class) from their text values."""
    values: list[str] = []
    sop_class = text["SOPClassUID"].strip() or None
    sop_instance = text["SOPInstanceUID"].strip() or None
    for keyword, _tag in _REQUIRED_UIDS:
        value = text[keyword].strip().rstrip("\0")
        if not value:
            raise InvalidInstance(
                f"{keyword} is missing",
                FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
                sop_class,
                sop_instance,
            )
        if not is_valid_uid(value):
            raise InvalidInstance(
                f"{keyword} is not a valid UID: {value[:80]!r}",
                FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS,
                sop_class,
                sop_instance,
            )
        values.append(value)
    if expected_study is not None and values[0] != expected_study:
        raise InvalidInstance(
            f"StudyInstanceUID {values[0]} does not match the study in the URL {expected_study}",
            FailureReason.STUDY_UID_MISMATCH,
            values[3],
            values[2],
        )
    return values[0], values[1], values[2], values[3]


def _transfer_syntax(ds: Dataset, uids: tuple[str, str, str, str]) -> str:
    meta = getattr(ds, "file_meta", None)
    value = str(meta.get("TransferSyntaxUID", "") if meta is not None else "").strip()
    if not value or not UID(value).is_transfer_syntax:
        raise InvalidInstance(
            f"unknown or missing transfer syntax {value!r}",
            FailureReason.CANNOT_UNDERSTAND,
            uids[3],
            uids[2],
        )
    return value


def _to_json(
    ds: Dataset,
    base: str,
    path: str,
    bulk: dict[str, tuple[int, int]],
    warnings: list[str],
    encoding: str | None = "latin-1",
) -> dict[str, Any]:
    """DICOM JSON (PS3.18 F.2) of ``ds`` without reading large binary values."""
    if 0x00080005 in ds:
        encoding = rawjson.encoding_of(ds)
    out: dict[str, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 -- iterating a Dataset would convert (read) values
        key = f"{int(tag):08X}"
        raw = ds.get_item(tag)
        vr = raw.VR if raw is not None and raw.VR else _dictionary_vr(int(tag))
        if (
            isinstance(raw, RawDataElement)
            and vr in BINARY_VRS
            and raw.length > BULK_THRESHOLD
            and not path  # pydicom's offsets inside sequence items are not file offsets
        ):
            bulk[path + key] = (raw.value_tell, raw.length)
            out[key] = {"vr": vr, "BulkDataURI": base + path + key}
            continue
        if isinstance(raw, RawDataElement) and vr != "SQ" and raw.value is not None:
            try:
                out[key] = _fast_element(raw, vr, encoding)
                continue
            except rawjson.Unsupported:
                pass  # pydicom converts it below
        try:
            out[key] = _converted(ds, tag, base, f"{path}{key}/", bulk, warnings, encoding)
        except Exception as exc:  # an invalid value: stored as received, left out of the JSON
            warnings.append(f"({key[:4]},{key[4:]}) left out of the metadata: {exc}")
    return out


def _fast_element(raw: RawDataElement, vr: str, encoding: str | None) -> dict[str, Any]:
    if rawjson.is_binary(vr):
        return rawjson.inline_binary(raw, vr)
    return rawjson.element(raw, vr, encoding, raw.is_little_endian)


def _converted(
    ds: Dataset,
    tag: Any,
    base: str,
    path: str,
    bulk: dict[str, tuple[int, int]],
    warnings: list[str],
    encoding: str | None,
) -> dict[str, Any]:
    """pydicom's conversion: sequences (recursing into items) and the unusual elements."""
    elem = ds[tag]
    if elem.VR != "SQ":
        return dict(elem.to_json_dict(None, 1 << 62))
    items = [
        _to_json(item, base, f"{path}{i}/", bulk, warnings, encoding)
        for i, item in enumerate(elem.value)
    ]
    return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}


def _dictionary_vr(tag: int) -> str:
    if tag >> 16 & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
        return "LO"  # private creator (PS3.5 7.8.1)
    try:
        return str(dictionary_VR(tag))  # "US or SS": resolved by pydicom's conversion
    except KeyError:
        return "UN"


def _pixel_data(
    ds: pixeldata.Described,
    body: IO[bytes],
    start: int,
    size: int,
    transfer_syntax: str,
    metadata: dict[str, Any],
    bulk: dict[str, tuple[int, int]],
    base: str,
) -> list[Frame]:
    """Locate the pixel data element after the header and map its frames."""
    if start >= size:
        return []
    syntax = transfer_syntax_uid(transfer_syntax)
    located = pixeldata.locate(body, start, size, syntax)
    if located is None:
        return []
    pixeldata.require_complete_tail(body, located.value_offset + located.value_length, size, syntax)
    key = f"{located.tag:08X}"
    bulk[key] = (located.value_offset, located.value_length)
    metadata[key] = {"vr": located.vr, "BulkDataURI": base + key}
    return pixeldata.frames_of(ds, body, located, syntax)
