"""DICOM files built byte by byte to carry one defect each: absurd lengths, nesting that never
ends, a deflated data set that inflates far beyond its size."""

from __future__ import annotations

import struct
import zlib

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests import instances

UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL"})
ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
# The defects sit in private groups after every element of the template, so tags stay ordered.
PRIVATE_GROUP = 0x6001
CREATOR = (PRIVATE_GROUP, 0x0010)
VALUE = (PRIVATE_GROUP, 0x1000)
SEQUENCE = (PRIVATE_GROUP, 0x1001)


def element(tag: tuple[int, int], vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """One Explicit VR Little Endian element; ``length`` overrides the true length."""
    size = len(value) if length is None else length
    head = struct.pack("<HH", *tag) + vr
    if vr in _LONG_VRS:
        return head + b"\0\0" + struct.pack("<L", size) + value
    return head + struct.pack("<H", size) + value


def marker(tag: tuple[int, int], length: int = 0) -> bytes:
    """An item or delimiter: tag and 32-bit length, no VR."""
    return struct.pack("<HHL", *tag, length)


def header(syntax: str = ExplicitVRLittleEndian) -> tuple[Dataset, bytes, bytes]:
    """A small instance with fresh UIDs and no pixel data: (data set, file meta with preamble,
    the data set's elements), so a case can append its defect to the elements."""
    ds = instances.fresh()
    del ds.PixelData
    del ds[0xFFFCFFFC]  # trailing padding: the defects come last
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    whole = instances.to_bytes(ds)
    start = _data_set_start(whole)
    if syntax != ExplicitVRLittleEndian:
        meta = _with_syntax(whole[:start], syntax)
        return ds, meta, whole[start:]
    return ds, whole[:start], whole[start:]


def _data_set_start(data: bytes) -> int:
    pos = 132
    while struct.unpack_from("<H", data, pos)[0] == 0x0002:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return pos


def _with_syntax(meta: bytes, syntax: str) -> bytes:
    """The file meta with another Transfer Syntax UID and a group length that fits it."""
    old = ExplicitVRLittleEndian.encode() + (b"\0" if len(ExplicitVRLittleEndian) % 2 else b"")
    new = syntax.encode() + (b"\0" if len(syntax) % 2 else b"")
    at = meta.index(old)
    body = meta[132 + 12 : at - 8] + element((0x0002, 0x0010), b"UI", new) + meta[at + len(old) :]
    return meta[:132] + element((0x0002, 0x0000), b"UL", struct.pack("<L", len(body))) + body


def private_creator() -> bytes:
    return element(CREATOR, b"LO", b"HOSTILE ")


def nested_sequences(depth: int, undefined: bool) -> bytes:
    """``depth`` sequences, each the only element of its parent's one item (after the private
    creator that owns them)."""
    if undefined:
        opening = element(SEQUENCE, b"SQ", b"", UNDEFINED) + marker(ITEM, UNDEFINED)
        closing = marker(ITEM_END) + marker(SEQUENCE_END)
        return private_creator() + opening * depth + closing * depth
    inner = b""
    for _ in range(depth):
        item = marker(ITEM, len(inner)) + inner
        inner = element(SEQUENCE, b"SQ", item)
    return private_creator() + inner


def deflate_bomb(inflated_bytes: int) -> tuple[Dataset, bytes]:
    """Deflated Explicit VR Little Endian whose data set ends in an OB value of
    ``inflated_bytes`` zeros (a multiple of 16 MiB): a few hundred KiB on the wire. A full
    flush resets the compressor, so one compressed run of zeros is repeated as it is."""
    ds, meta, elements = header(DeflatedExplicitVRLittleEndian)
    run = 16 << 20
    compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    value_head = struct.pack("<HH", *VALUE) + b"OB\0\0" + struct.pack("<L", inflated_bytes)
    prefix = elements + private_creator() + value_head
    opening = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = compressor.compress(bytes(run)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return ds, meta + opening + zeros * (inflated_bytes // run) + compressor.flush()


def deflated(elements_suffix: bytes = b"", cut: int = 0) -> tuple[Dataset, bytes]:
    """A deflated instance (its deflate stream cut short by ``cut`` bytes when asked)."""
    ds, meta, elements = header(DeflatedExplicitVRLittleEndian)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = compressor.compress(elements + elements_suffix) + compressor.flush()
    return ds, meta + stream[: len(stream) - cut]
