"""DIMSE command sets encoded directly instead of by pydicom's writer.

pynetdicom encodes the command set of every message it sends twice with pydicom's general
writer (once to measure the Command Group Length, once to send), through per-element value
validation and conversion: for a C-FIND that is a large share of the CPU of each pending
answer. A command set is always Implicit VR Little Endian (PS3.7 6.3.1) and holds a handful
of UIDs, AE titles, numbers and short texts of group 0000, so ``encoded`` writes those
directly, byte for byte what pydicom writes; a command set holding anything else (an Attribute
Tag list, say) is left to pydicom, as is every other data set.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable
from typing import Any

import pynetdicom.dimse_messages
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

_NUMBERS = {"US": "<H", "UL": "<I"}
_TEXTS = frozenset({"UI", "AE", "CS", "SH", "LO", "ST"})
TAG_AND_LENGTH = struct.Struct("<HHI")  # an Implicit VR Little Endian element's header


def encoded(command_set: Dataset) -> bytes | None:
    """``command_set`` in Implicit VR Little Endian, or None when it holds an element other
    than a number or text of group 0000."""
    out = bytearray()
    for element in command_set:
        tag = int(element.tag)
        value = _value(element.VR, element.value)
        if tag >> 16 or value is None:
            return None
        out += TAG_AND_LENGTH.pack(0, tag & 0xFFFF, len(value)) + value
    return bytes(out)


def command(elements: Iterable[tuple[int, str, Any]]) -> bytes:
    """A command set of ``elements`` (element number in group 0000, VR, value; in tag order),
    its Command Group Length first: byte for byte what ``encoded`` makes of the same data set.
    Raises ``ValueError`` for a value ``encoded`` would leave to pydicom."""
    body = bytearray()
    for element, vr, value in elements:
        data = _value(vr, value)
        if data is None:
            raise ValueError(f"(0000,{element:04X}): {value!r} is no {vr} written here")
        body += TAG_AND_LENGTH.pack(0, element, len(data)) + data
    return TAG_AND_LENGTH.pack(0, 0, 4) + struct.pack("<I", len(body)) + body


@functools.cache
def keys(name: str) -> list[tuple[str, int, str]]:
    """The command set keys of DIMSE message type ``name`` (``"C-FIND-RSP"``) but the group
    length, as pynetdicom lists them (PS3.7 9.3), in tag order: (keyword, element number in
    group 0000, VR)."""
    keywords = pynetdicom.dimse_messages._COMMAND_SET_KEYWORDS[name]
    tags = sorted((int(tag_for_keyword(k) or 0), k) for k in keywords)
    return [(k, tag & 0xFFFF, dictionary_VR(tag)) for tag, k in tags if tag]


def _value(vr: str, value: Any) -> bytes | None:
    """An element's value field, padded to even length as pydicom pads it."""
    if value is None or value == "":
        return b""
    if vr in _NUMBERS:
        try:
            return struct.pack(_NUMBERS[vr], value) if isinstance(value, int) else None
        except struct.error:  # out of range: pydicom's writer says so
            return None
    if vr not in _TEXTS or not isinstance(value, str):
        return None
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data


def install() -> None:
    """Have pynetdicom encode command sets with ``encoded`` (other data sets as before)."""
    pydicom_encode: Callable[..., bytes | None] = pynetdicom.dimse_messages.encode  # type: ignore[attr-defined]
    if getattr(pydicom_encode, "encodes_command_sets", False):
        return  # installed already

    def encode(ds: Dataset, implicit: bool, little_endian: bool, deflated: bool = False) -> Any:
        if implicit and little_endian and not deflated:
            data = encoded(ds)
            if data is not None:
                return data
        return pydicom_encode(ds, implicit, little_endian, deflated)

    encode.encodes_command_sets = True  # type: ignore[attr-defined]
    pynetdicom.dimse_messages.encode = encode  # type: ignore[attr-defined,assignment]
