"""DICOM JSON (PS3.18 F.2) straight from raw element bytes: the ingest hot path.

pydicom's element-by-element conversion costs ~15 ms for a typical CT header; decoding the raw
bytes by VR here costs a fraction of that. Anything unusual (ambiguous VRs, character sets
other than the default, Latin-1 and UTF-8, values that do not parse) goes through pydicom.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from dicomcommon.dicom.elements import BINARY_VRS

Json = dict[str, Any]

_TEXT_SINGLE = frozenset({"LT", "ST", "UT", "UR"})  # backslash is not a separator here
_TEXT = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC", "UI"}) | _TEXT_SINGLE
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


class Unsupported(Exception):
    """This element needs pydicom's full conversion."""


def encoding_of(ds: Dataset) -> str | None:
    """The codec for text values, or None when only pydicom can decode them."""
    raw = ds.get_item(0x00080005)
    if raw is None:
        return "latin-1"
    if isinstance(raw, RawDataElement):
        return encoding_for(bytes(raw.value or b""))
    terms = list(raw.value) if raw.VM > 1 else [raw.value or ""]
    return encoding_for("\\".join(str(t) for t in terms).encode("latin-1"))


def encoding_for(specific_character_set: bytes) -> str | None:
    """The codec for a Specific Character Set value (None: not one decoded here)."""
    terms = specific_character_set.decode("latin-1").split("\\")
    codecs = {_CHARSETS.get(term.strip()) for term in terms if term.strip()}
    if not codecs:
        return "latin-1"
    if None in codecs or len(codecs) > 1:
        return None
    return codecs.pop()


def element(raw: RawDataElement, vr: str, encoding: str | None, little: bool) -> Json:
    """One raw pydicom element as DICOM JSON; raises ``Unsupported`` when pydicom must do it."""
    return value_json(int(raw.tag), vr, raw.value or b"", encoding, little)


def value_json(tag: int, vr: str, value: bytes, encoding: str | None, little: bool) -> Json:
    """One element's value bytes as DICOM JSON (binary VRs as InlineBinary)."""
    if vr == "UN" and not tag >> 16 & 1:
        raise Unsupported("UN of a standard attribute: pydicom restores its VR")
    if not value:
        return {"vr": vr}
    if vr in BINARY_VRS:
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    decode = _DECODERS.get(vr)
    if decode is None:
        raise Unsupported(vr)
    values = decode(value, encoding, little)
    return {"vr": vr, "Value": values} if values else {"vr": vr}


def _strings(value: bytes, encoding: str | None) -> list[str]:
    if encoding is None:
        raise Unsupported("character set")
    return value.decode(encoding).split("\\")


_ASCII_ONLY = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI"})


def _text(vr: str) -> Callable[[bytes, str | None, bool], list[Any]]:
    single = vr in _TEXT_SINGLE
    ascii_only = vr in _ASCII_ONLY

    def decode(value: bytes, encoding: str | None, little: bool) -> list[Any]:
        codec = "latin-1" if ascii_only else encoding
        if codec is None:
            raise Unsupported("character set")
        text = value.decode(codec)
        if single:  # leading spaces are significant in LT / ST / UT (PS3.5 6.2)
            text = text.rstrip(" \0")
            return [text] if text else []
        if "\\" not in text:  # one value, the common case
            text = text.strip(" \0")
            return [text] if text else []
        out = [part.strip(" \0") or None for part in text.split("\\")]
        return out if any(v is not None for v in out) else []

    return decode


def _person_names(value: bytes, encoding: str | None, little: bool) -> list[Any]:
    out: list[Any] = []
    for name in _strings(value, encoding):
        groups = name.rstrip(" \0").split("=")
        entry = {g: v for g, v in zip(_PN_GROUPS, groups, strict=False) if v}
        out.append(entry or None)
    return out if any(v is not None for v in out) else []


def _numbers_as_text(
    kind: type[int] | type[float],
) -> Callable[[bytes, str | None, bool], list[Any]]:
    def decode(value: bytes, encoding: str | None, little: bool) -> list[Any]:
        out: list[Any] = []
        for part in value.decode("latin-1").split("\\"):
            text = part.strip(" \0")
            if not text:
                out.append(None)
                continue
            try:
                out.append(kind(text) if kind is float else int(float(text)))
            except ValueError as exc:
                raise Unsupported(f"not a number: {text!r}") from exc
        return out if any(v is not None for v in out) else []

    return decode


def _binary_numbers(code: str) -> Callable[[bytes, str | None, bool], list[Any]]:
    size = struct.calcsize("<" + code)
    one = {True: struct.Struct("<" + code), False: struct.Struct(">" + code)}

    def decode(value: bytes, encoding: str | None, little: bool) -> list[Any]:
        count = len(value) // size
        if count == 1:  # one value, the common case: a compiled struct
            values: tuple[Any, ...] = one[little].unpack_from(value)
        else:
            values = struct.unpack(f"{'<' if little else '>'}{count}{code}", value[: count * size])
        if code in "fd":
            return [v if v == v and abs(v) != float("inf") else None for v in values]
        return list(values)

    return decode


def _tags(value: bytes, encoding: str | None, little: bool) -> list[Any]:
    count = len(value) // 4
    pairs = struct.unpack(f"{'<' if little else '>'}{count * 2}H", value[: count * 4])
    return [f"{pairs[i]:04X}{pairs[i + 1]:04X}" for i in range(0, len(pairs), 2)]


def _inline_binary(value: bytes, encoding: str | None, little: bool) -> list[Any]:
    raise Unsupported("binary")  # handled by the caller as InlineBinary


_DECODERS: dict[str, Callable[[bytes, str | None, bool], list[Any]]] = {
    **{vr: _text(vr) for vr in _TEXT},
    "PN": _person_names,
    "IS": _numbers_as_text(int),
    "DS": _numbers_as_text(float),
    **{vr: _binary_numbers(code) for vr, code in _NUMBERS.items()},
    "AT": _tags,
}


def inline_binary(raw: RawDataElement, vr: str) -> Json:
    return value_json(int(raw.tag), vr, raw.value or b"", None, True)


def is_binary(vr: str) -> bool:
    return vr in BINARY_VRS
