"""Find the Pixel Data element in a stored file and map each frame to byte ranges.

Native pixel data: frame *i* is a fixed-size slice. Encapsulated (PS3.5 A.4): fragments are
walked by their item headers only, and grouped into frames with the Basic or Extended Offset
Table, one fragment per frame, or the codec's start-of-image markers.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from dicomcommon.adapters.events import Frame
from dicomcommon.dicom.elements import LONG_LENGTH_VRS, PIXEL_DATA_VRS
from dicomcommon.errors import FailureReason, InvalidInstance

Described = Dataset | Mapping[str, Any]
"""The attributes that map frames: a pydicom Dataset, or the keyword → value mapping the
header walk read (``ExtendedOffsetTable`` as raw bytes)."""
_ITEM = 0xFFFEE000
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_FRAME_STARTS = (b"\xff\xd8", b"\xff\x4f")  # JPEG family SOI, JPEG 2000 SOC


@dataclass(frozen=True)
class PixelDataElement:
    tag: int
    vr: str
    value_offset: int  # first byte of the value in the file
    value_length: int  # bytes of the value (encapsulated: through the sequence delimiter)
    fragments: tuple[tuple[int, int], ...] = ()  # encapsulated: (offset, length), BOT first

    @property
    def encapsulated(self) -> bool:
        return bool(self.fragments)


def _truncated(what: str) -> InvalidInstance:
    return InvalidInstance(f"truncated file: {what}", FailureReason.CANNOT_UNDERSTAND)


def locate(body: IO[bytes], start: int, size: int, syntax: UID) -> PixelDataElement | None:
    """The pixel data element starting at ``start``, or None if there is none to map."""
    if syntax == DeflatedExplicitVRLittleEndian:
        return None  # offsets inside a deflated stream mean nothing; decode on retrieval
    endian = "<" if syntax.is_little_endian else ">"
    body.seek(start)
    head = body.read(12)
    if len(head) < 8:
        raise _truncated("element header after the data set")
    group, element = struct.unpack(endian + "HH", head[:4])
    tag = (group << 16) | element
    if tag not in PIXEL_DATA_VRS:
        return None
    if syntax.is_implicit_VR:
        vr, (length,), header = PIXEL_DATA_VRS[tag], struct.unpack(endian + "L", head[4:8]), 8
    elif head[4:6] in LONG_LENGTH_VRS:
        vr, (length,), header = head[4:6].decode(), struct.unpack(endian + "L", head[8:12]), 12
    else:
        vr, (length,), header = head[4:6].decode(), struct.unpack(endian + "H", head[6:8]), 8
    value_offset = start + header
    if length == 0xFFFFFFFF:
        fragments, end = _walk_fragments(body, value_offset, size, endian)
        return PixelDataElement(tag, "OB", value_offset, end - value_offset, fragments)
    if value_offset + length > size:
        raise _truncated(f"pixel data needs {length} bytes, {size - value_offset} remain")
    return PixelDataElement(tag, vr, value_offset, length)


def require_complete_tail(body: IO[bytes], start: int, size: int, syntax: UID) -> None:
    """The elements after the pixel data (trailing padding, mostly) end with the file: one
    whose header or value runs past the end means the file was cut short (0xC000)."""
    endian = "<" if syntax.is_little_endian else ">"
    offset = start
    while offset < size:
        body.seek(offset)
        head = body.read(12)
        if len(head) < 8:
            raise _truncated(f"an element header at byte {offset} is cut short")
        if syntax.is_implicit_VR or head[:2] == b"\xfe\xff":
            length, header = struct.unpack(endian + "L", head[4:8])[0], 8
        elif head[4:6] in LONG_LENGTH_VRS:
            if len(head) < 12:
                raise _truncated(f"an element header at byte {offset} is cut short")
            length, header = struct.unpack(endian + "L", head[8:12])[0], 12
        else:
            length, header = struct.unpack(endian + "H", head[6:8])[0], 8
        if length == 0xFFFFFFFF:
            return  # a sequence of undefined length: not walked here
        offset += header + length
    if offset > size:
        raise _truncated(f"an element after the pixel data needs {offset - size} more bytes")


def _walk_fragments(
    body: IO[bytes], offset: int, size: int, endian: str
) -> tuple[tuple[tuple[int, int], ...], int]:
    fragments: list[tuple[int, int]] = []
    while True:
        body.seek(offset)
        head = body.read(8)
        if len(head) < 8:
            raise _truncated("encapsulated pixel data has no sequence delimiter")
        group, element, length = struct.unpack(endian + "HHL", head)
        tag = (group << 16) | element
        if tag == _SEQUENCE_DELIMITER:
            return tuple(fragments), offset + 8
        if tag != _ITEM or offset + 8 + length > size:
            raise _truncated(f"bad fragment item at byte {offset}")
        fragments.append((offset + 8, length))
        offset += 8 + length


def frames_of(
    ds: Described, body: IO[bytes], element: PixelDataElement, syntax: UID
) -> list[Frame]:
    """Byte ranges of every frame, or [] when they cannot be mapped without decoding."""
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if element.encapsulated:
        return _encapsulated_frames(ds, body, element, count)
    bits = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0)
    bits *= int(ds.get("SamplesPerPixel", 1) or 1) * int(ds.get("BitsAllocated", 8) or 8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        bits = bits * 2 // 3  # PS3.3 C.7.6.3.1.2: chroma shared by two pixels, 2 samples each
    if bits == 0 or bits % 8:
        return []
    frame_size = bits // 8
    fitting = min(count, element.value_length // frame_size)
    return [
        Frame(fragments=[(element.value_offset + i * frame_size, frame_size)])
        for i in range(fitting)
    ]


def _encapsulated_frames(
    ds: Described, body: IO[bytes], element: PixelDataElement, count: int
) -> list[Frame]:
    bot_offset, bot_length = element.fragments[0]
    fragments = element.fragments[1:]
    if not fragments:
        return []
    starts = _offset_table(ds, body, bot_offset, bot_length)
    if starts:
        first_item = fragments[0][0] - 8
        return _group_by_item_offsets(fragments, [first_item + s for s in starts])
    if count == 1:
        return [Frame(fragments=list(fragments))]
    if count == len(fragments):
        return [Frame(fragments=[f]) for f in fragments]
    return _group_by_markers(body, fragments, count)


def _offset_table(ds: Described, body: IO[bytes], offset: int, length: int) -> list[int]:
    """Frame start offsets from the Basic Offset Table, else the Extended Offset Table."""
    if length >= 4:
        body.seek(offset)
        table = body.read(length)
        return list(struct.unpack(f"<{length // 4}L", table[: length // 4 * 4]))
    extended = ds.get("ExtendedOffsetTable")
    extended = getattr(extended, "value", extended)  # a data element, or its raw bytes
    if extended:
        raw = bytes(extended)
        return list(struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8]))
    return []


def _group_by_item_offsets(
    fragments: tuple[tuple[int, int], ...], item_starts: list[int]
) -> list[Frame]:
    frames: list[Frame] = []
    bounds = [*item_starts[1:], 1 << 62]
    index = 0
    for start, end in zip(item_starts, bounds, strict=True):
        group: list[tuple[int, int]] = []
        while index < len(fragments) and fragments[index][0] - 8 < end:
            if fragments[index][0] - 8 >= start:
                group.append(fragments[index])
            index += 1
        frames.append(Frame(fragments=group))
    return frames


def _group_by_markers(
    body: IO[bytes], fragments: tuple[tuple[int, int], ...], count: int
) -> list[Frame]:
    frames: list[list[tuple[int, int]]] = []
    for offset, length in fragments:
        body.seek(offset)
        if body.read(2) in _FRAME_STARTS or not frames:
            frames.append([])
        frames[-1].append((offset, length))
    if len(frames) != count:
        return []  # cannot tell frames apart: retrieval decodes the whole pixel data
    return [Frame(fragments=f) for f in frames]
