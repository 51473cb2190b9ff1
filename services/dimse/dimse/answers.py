"""C-FIND answers encoded once, straight from the index's DICOM JSON.

pynetdicom encodes each pending answer with pydicom's writer, after ``Dataset.from_json``
built it: per element, a value converted from JSON, validated, then converted back to bytes.
An answer is a handful of text keys, so ``encoded`` writes them directly (little endian,
implicit or explicit VR: PS3.5 7.1), and ``install`` has pynetdicom send those bytes. An
answer holding anything else (a sequence, a binary or decimal value, a character set other
than the default, Latin-1 or UTF-8) is left to pydicom.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pynetdicom.service_class
from pydicom.dataset import Dataset

_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_LONG_LENGTH_VRS = frozenset({"UC", "UR", "UT"})  # of the text VRs, those with a 4-byte length
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})  # in the data set's charset
_CODECS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf-8"}
_CHARSET = "00080005"
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


class EncodedAnswer(Dataset):
    """An answer's bytes in one transfer syntax; pydicom's reading of it (``full``) is built
    only when asked for, as for another transfer syntax."""

    def __init__(self, document: dict[str, Any], encoded: bytes, implicit: bool) -> None:
        super().__init__()
        self.__dict__["_encoded"] = (document, encoded, implicit)

    def full(self) -> Dataset:
        return Dataset.from_json(self.__dict__["_encoded"][0])


def answer(document: dict[str, Any], implicit: bool) -> Dataset:
    """The answer to send for a DICOM JSON ``document``: encoded here when it can be."""
    data = encoded(document, implicit)
    return Dataset.from_json(document) if data is None else EncodedAnswer(document, data, implicit)


def encoded(document: dict[str, Any], implicit: bool) -> bytes | None:
    """The data set of a DICOM JSON ``document`` (tag → element) in little endian, or None
    when it holds anything but text in the default repertoire, Latin-1 or UTF-8."""
    codec = _codec(document.get(_CHARSET))
    if codec is None:
        return None
    out = bytearray()
    for tag in sorted(document, key=lambda t: int(t, 16)):
        element = document[tag]
        vr = element.get("vr")
        if vr not in _TEXT_VRS:
            return None
        value = _text(vr, element.get("Value") or [], codec)
        if value is None:
            return None
        out += _header(int(tag, 16), vr, len(value), implicit) + value
    return bytes(out)


def _codec(charset: dict[str, Any] | None) -> str | None:
    values = (charset or {}).get("Value") or [""]
    return _CODECS.get(str(values[0])) if len(values) == 1 else None


def _text(vr: str, values: list[Any], codec: str) -> bytes | None:
    """The element's value field, padded to even length (UI with NUL, the rest with space)."""
    parts = []
    for value in values:
        if vr == "PN":
            if not isinstance(value, dict):
                return None
            groups = [str(value.get(group, "")) for group in _PN_GROUPS]
            value = "=".join(groups).rstrip("=")
        elif not isinstance(value, str) and not (vr == "IS" and isinstance(value, int)):
            return None
        parts.append(str(value))
    try:
        data = "\\".join(parts).encode(codec if vr in _CHARSET_VRS else "ascii")
    except UnicodeEncodeError:
        return None
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data


def _header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    group_element = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return group_element + struct.pack("<I", length)
    if vr in _LONG_LENGTH_VRS:
        return group_element + vr.encode() + b"\0\0" + struct.pack("<I", length)
    return group_element + vr.encode() + struct.pack("<H", length)


def install() -> None:
    """Have pynetdicom send an ``EncodedAnswer``'s bytes rather than encode it again (in the
    transfer syntax they were written for; any other data set as before)."""
    pydicom_encode: Callable[..., bytes | None] = pynetdicom.service_class.encode  # type: ignore[attr-defined]
    if getattr(pydicom_encode, "sends_encoded_answers", False):
        return  # installed already

    def encode(ds: Dataset, implicit: bool, little_endian: bool, deflated: bool = False) -> Any:
        if not isinstance(ds, EncodedAnswer):
            return pydicom_encode(ds, implicit, little_endian, deflated)
        _, data, written_implicit = ds.__dict__["_encoded"]
        if written_implicit == implicit and little_endian and not deflated:
            return data
        return pydicom_encode(ds.full(), implicit, little_endian, deflated)

    encode.sends_encoded_answers = True  # type: ignore[attr-defined]
    pynetdicom.service_class.encode = encode  # type: ignore[attr-defined,assignment]
