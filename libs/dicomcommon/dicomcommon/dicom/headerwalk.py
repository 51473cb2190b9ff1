"""A Part 10 header walked straight from its bytes into DICOM JSON: the ingest fast path.

pydicom builds a Dataset of element objects first (about a millisecond for a CT header), then
we convert it; here each element is decoded once, from a memory view, in file order. It covers
what archives receive most — Explicit and Implicit VR Little Endian and the encapsulated syntaxes,
sequences of defined or undefined length — and raises ``Unsupported`` for the rest (big endian,
deflate, ambiguous VRs it cannot settle, damaged structure), where ``dataset`` uses pydicom.
A value that runs past the end of the file, or a sequence or item of undefined length that the
file ends inside, is ``Truncated``: a transfer cut short, which pydicom reads as if complete.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from typing import IO, Any

from pydicom.datadict import dictionary_VR

from dicomcommon.dicom import rawjson, uids
from dicomcommon.dicom.elements import BINARY_VRS, LONG_LENGTH_VRS, PIXEL_DATA_TAGS
from dicomcommon.dicom.rawjson import Unsupported

_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DESCRIPTION = {
    0x00280002: "SamplesPerPixel",
    0x00280004: "PhotometricInterpretation",
    0x00280008: "NumberOfFrames",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "BitsAllocated",
    0x00280103: "PixelRepresentation",
}
_EXTENDED_OFFSET_TABLE = 0x7FE00001
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")
_TAG = struct.Struct("<HH")
_HEADER = struct.Struct("<HH2sH")  # tag, and the explicit VR with its short length
_EXPLICIT_VRS: dict[bytes, tuple[str, bool]] = {}  # VR bytes -> (VR, has a 4-byte length)


def _explicit_vr(vr: bytes) -> tuple[str, bool]:
    """An explicit VR's name and whether a 4-byte length follows it (remembered: at most
    the two-letter combinations)."""
    known = _EXPLICIT_VRS.get(vr)
    if known is None:
        if not vr.isalpha():
            raise Unsupported("not an explicit VR")
        known = _EXPLICIT_VRS[vr] = (vr.decode("ascii"), vr in LONG_LENGTH_VRS)
    return known


class Truncated(Exception):
    """The file ends inside a value, or an undefined-length sequence or item: it was cut
    short."""


@dataclass
class Header:
    """What the walk found: the JSON, where large values sit, and the pixel data's start."""

    transfer_syntax_uid: str
    metadata: dict[str, Any]
    bulk_data: dict[str, tuple[int, int]]  # element path -> (offset, length) in the file
    bulk_elements: list[tuple[dict[str, Any], str]]  # JSON elements awaiting their BulkDataURI
    pixel_start: int  # offset of the pixel data element (== size when there is none)
    pixel_description: dict[str, Any] = field(default_factory=dict)  # keyword -> value

    def set_bulk_base(self, base: str) -> None:
        """BulkDataURIs are ``base`` + the element's path (known once the UIDs are)."""
        for element, path in self.bulk_elements:
            element["BulkDataURI"] = base + path


@contextmanager
def _view(body: IO[bytes]) -> Iterator[memoryview]:
    """The whole part as a memory view, without a copy (BytesIO buffer or a file mapping)."""
    if isinstance(body, BytesIO):
        with body.getbuffer() as view:
            yield view
        return
    with mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
        yield view


def walk(body: IO[bytes], bulk_threshold: int) -> Header:
    """Walk the header of a Part 10 file up to its pixel data."""
    with _view(body) as view:
        walker = _Walker(view, bulk_threshold)
        try:
            return walker.run()
        finally:
            walker.view = memoryview(b"")  # drop the export before the buffer is released


def file_meta(body: IO[bytes]) -> tuple[str, int]:
    """The transfer syntax of a Part 10 file and the offset where its data set starts."""
    with _view(body) as view:
        walker = _Walker(view, 0)
        try:
            walker.require_preamble()
            return walker.file_meta()
        finally:
            walker.view = memoryview(b"")


class _Walker:
    def __init__(self, view: memoryview, bulk_threshold: int) -> None:
        self.view = view
        self.threshold = bulk_threshold
        self.implicit = False
        self.bulk: dict[str, tuple[int, int]] = {}
        self.bulk_elements: list[tuple[dict[str, Any], str]] = []
        self.pixel_description: dict[str, Any] = {}
        self.pixel_representation = 0

    def require_preamble(self) -> None:
        if bytes(self.view[128:132]) != b"DICM":
            raise Unsupported("no Part 10 preamble")

    def run(self) -> Header:
        self.require_preamble()
        syntax, start = self.file_meta()
        walkable, self.implicit = uids.walkable_syntax(syntax)
        if not walkable:
            raise Unsupported(f"transfer syntax {syntax}")
        metadata, end = self._dataset(start, len(self.view), "", "latin-1", top=True)
        return Header(syntax, metadata, self.bulk, self.bulk_elements, end, self.pixel_description)

    def file_meta(self) -> tuple[str, int]:
        """Group 0002 (always Explicit VR Little Endian): the transfer syntax, and where the
        data set starts."""
        pos, syntax = 132, ""
        while pos + 8 <= len(self.view):
            group, element = _TAG.unpack_from(self.view, pos)
            if group != 0x0002:
                break
            _, length, value = self._explicit(pos)
            if element == 0x0010:
                syntax = bytes(self.view[value : value + length]).decode("ascii").strip(" \0")
            pos = value + length
        if not syntax:
            raise Unsupported("no transfer syntax in the file meta information")
        return syntax, pos

    def _explicit(self, pos: int) -> tuple[str, int, int]:
        vr, long = _explicit_vr(bytes(self.view[pos + 4 : pos + 6]))
        if long:
            return vr, _U32.unpack_from(self.view, pos + 8)[0], pos + 12
        return vr, _U16.unpack_from(self.view, pos + 6)[0], pos + 8

    def _header(self, pos: int) -> tuple[int, str, int, int]:
        """(tag, VR, length, value offset) of the element at ``pos``."""
        group, element = _TAG.unpack_from(self.view, pos)
        tag = group << 16 | element
        if group == 0xFFFE or self.implicit:
            length = _U32.unpack_from(self.view, pos + 4)[0]
            return tag, "" if group == 0xFFFE else self._implicit_vr(tag), length, pos + 8
        vr, length, value = self._explicit(pos)
        return tag, vr, length, value

    def _implicit_vr(self, tag: int) -> str:
        if tag >> 16 & 1:
            return "LO" if 0x0010 <= tag & 0xFFFF <= 0x00FF else "UN"  # private creator / data
        try:
            vr = str(dictionary_VR(tag))
        except KeyError:
            return "UN"
        if vr == "US or SS":
            return "SS" if self.pixel_representation else "US"
        if vr == "OB or OW":
            return "OW"  # PS3.5 A.1: OW in Implicit VR Little Endian
        if " or " in vr:
            raise Unsupported(f"ambiguous VR {vr}")
        return vr

    def _dataset(
        self,
        pos: int,
        end: int,
        path: str,
        encoding: str | None,
        top: bool = False,
        delimited: bool = False,
    ) -> tuple[dict[str, Any], int]:
        """Elements from ``pos`` to ``end`` (or an item delimiter); returns (json, next pos).
        A ``delimited`` item (undefined length) must end with its delimiter.

        Ingest's hot loop, kept in one piece on purpose: each element's header is read with one
        unpack and its value handed straight to ``rawjson``, without a method call per step
        (that halved the walk's time)."""
        out: dict[str, Any] = {}
        view, size, implicit, threshold = self.view, len(self.view), self.implicit, self.threshold
        while pos < end:
            if pos + 8 > size:
                raise Unsupported("truncated element header")
            group, element, vr_bytes, short = _HEADER.unpack_from(view, pos)
            tag = group << 16 | element
            if group == 0xFFFE or implicit:
                length = _U32.unpack_from(view, pos + 4)[0]
                vr = "" if group == 0xFFFE else self._implicit_vr(tag)
                value = pos + 8
            else:
                vr, long = _EXPLICIT_VRS.get(vr_bytes) or _explicit_vr(vr_bytes)
                if long:
                    length, value = _U32.unpack_from(view, pos + 8)[0], pos + 12
                else:
                    length, value = short, pos + 8
            if tag == _ITEM_END:
                return out, value
            if top and tag in PIXEL_DATA_TAGS:
                return out, pos
            key = f"{tag:08X}"
            if vr == "SQ" or (length == _UNDEFINED and vr == "UN"):
                self.implicit |= vr == "UN"  # PS3.5 6.2.2: such a UN holds Implicit VR items
                out[key], pos = self._sequence(value, length, f"{path}{key}/", encoding)
                self.implicit = implicit
                continue
            if length == _UNDEFINED:
                raise Unsupported("undefined length value")  # encapsulated icons: pydicom's
            pos = value + length
            if pos > size:
                raise Truncated(f"the value of ({key[:4]},{key[4:]}) runs past the end of the file")
            if tag == 0x00080005:
                encoding = rawjson.encoding_for(bytes(view[value:pos]))
            if length > threshold and vr in BINARY_VRS:
                self.bulk[path + key] = (value, length)
                bulk: dict[str, Any] = {"vr": vr, "BulkDataURI": ""}
                self.bulk_elements.append((bulk, path + key))
                out[key] = bulk
                continue
            raw = bytes(view[value:pos])
            out[key] = json = rawjson.value_json(tag, vr, raw, encoding, True)
            if top and (tag in _PIXEL_DESCRIPTION or tag == _EXTENDED_OFFSET_TABLE):
                self._describe(tag, json, raw)
        if delimited:
            raise Truncated("the file ends inside an item of undefined length")
        return out, pos

    def _describe(self, tag: int, element: dict[str, Any], raw: bytes) -> None:
        """Keep what mapping frames needs (Rows, Columns, ... and the Extended Offset Table)."""
        if tag == _EXTENDED_OFFSET_TABLE:
            self.pixel_description["ExtendedOffsetTable"] = raw
            return
        values = element.get("Value") or [None]
        self.pixel_description[_PIXEL_DESCRIPTION[tag]] = values[0]
        if tag == 0x00280103:
            self.pixel_representation = int(values[0] or 0)

    def _sequence(
        self, pos: int, length: int, path: str, encoding: str | None
    ) -> tuple[dict[str, Any], int]:
        end = len(self.view) if length == _UNDEFINED else pos + length
        if end > len(self.view):
            raise Truncated("a sequence runs past the end of the file")
        items: list[dict[str, Any]] = []
        while pos < end:
            tag, _, item_length, value = self._header(pos)
            if tag == _SEQUENCE_END:
                return self._items(items), value
            if tag != _ITEM:
                raise Unsupported("sequence without items")
            undefined = item_length == _UNDEFINED
            item_end = end if undefined else value + item_length
            if item_end > len(self.view):
                raise Truncated("a sequence item runs past the end of the file")
            if item_end > end:  # pydicom's reading of such a file is its own: the fallback's
                raise Unsupported("a sequence item runs past its sequence's length")
            item, pos = self._dataset(
                value, item_end, f"{path}{len(items)}/", encoding, delimited=undefined
            )
            items.append(item)
        if length == _UNDEFINED:
            raise Truncated("the file ends inside a sequence of undefined length")
        return self._items(items), pos

    @staticmethod
    def _items(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
