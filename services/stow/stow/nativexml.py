"""Read Native DICOM Model XML (PS3.19 A.1) into DICOM JSON (PS3.18 F.2).

STOW-RS accepts ``application/dicom+xml`` metadata (PS3.18 §10.5.1.2); turning it into the
DICOM JSON model lets one path (pydicom's ``Dataset.from_json``) build the instance. The writer
is ``dicomjson.to_native_xml``. Documents are parsed with ``defusedxml`` and a DTD is refused
whatever the document's encoding, so neither an entity-expansion document nor an external
entity can reach memory or files (the standard's model never needs either); sequences nest at
most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

from defusedxml import ElementTree as DefusedElementTree

from dicomcommon.dicom import dicomjson

DicomJson = dict[str, Any]

_INTEGERS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_FLOATS = frozenset({"FL", "FD"})
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
MAX_DEPTH = 64  # nested sequences; real data sets stay far below


class InvalidNativeXml(ValueError):
    """Not a Native DICOM Model document this reader understands."""


def read(document: bytes) -> DicomJson:
    """One ``NativeDicomModel`` document → one DICOM JSON data set."""
    try:
        root = DefusedElementTree.fromstring(document, forbid_dtd=True)
    except ElementTree.ParseError as exc:
        raise InvalidNativeXml(f"not well-formed XML: {exc}") from exc
    except ValueError as exc:  # defusedxml's refusals, and encodings expat does not read
        raise InvalidNativeXml(f"DTDs and entities are not accepted: {exc}") from exc
    if _local(root.tag) != "NativeDicomModel":
        raise InvalidNativeXml(f"root element is {_local(root.tag)!r}, not NativeDicomModel")
    return _attributes(root, 0)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _attributes(parent: ElementTree.Element, depth: int) -> DicomJson:
    if depth > MAX_DEPTH:
        raise InvalidNativeXml(f"sequences nest deeper than {MAX_DEPTH}")
    out: DicomJson = {}
    for attr in parent:
        if _local(attr.tag) != "DicomAttribute":
            continue
        tag = attr.get("tag", "")
        if not _TAG.match(tag):
            raise InvalidNativeXml(f"DicomAttribute without a valid tag: {tag[:20]!r}")
        vr = attr.get("vr") or _dictionary_vr(tag)
        out[tag.upper()] = _element(attr, vr, depth)
    return out


def _dictionary_vr(tag: str) -> str:
    found = dicomjson.lookup(tag)
    return found.vr if found is not None else "UN"


def _element(attr: ElementTree.Element, vr: str, depth: int) -> DicomJson:
    """PS3.19 A.1: Value, PersonName, Item (sequences), BulkData or InlineBinary children."""
    result: DicomJson = {"vr": vr}
    numbered: dict[int, Any] = {}
    for child in attr:
        name = _local(child.tag)
        if name == "BulkData":
            result["BulkDataURI"] = child.get("uri") or child.get("uuid") or ""
            return result
        if name == "InlineBinary":
            result["InlineBinary"] = "".join((child.text or "").split())
            return result
        number = _number(child, len(numbered) + 1)
        if name == "Item":
            numbered[number] = _attributes(child, depth + 1)
        elif name == "PersonName":
            numbered[number] = _person_name(child)
        elif name == "Value":
            numbered[number] = _scalar(vr, child.text)
    if numbered:
        result["Value"] = [numbered.get(n) for n in range(1, max(numbered) + 1)]
    return result


def _number(child: ElementTree.Element, default: int) -> int:
    try:
        number = int(child.get("number", default))
    except ValueError as exc:
        raise InvalidNativeXml(f"bad number attribute {child.get('number')!r}") from exc
    if not 1 <= number <= 1 << 20:
        raise InvalidNativeXml(f"number attribute out of range: {number}")
    return number


def _scalar(vr: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        if vr in _INTEGERS:
            return int(text)
        if vr in _FLOATS:
            return float(text)
    except ValueError as exc:
        raise InvalidNativeXml(f"{vr} value {text[:40]!r} is not a number") from exc
    return text


def _person_name(element: ElementTree.Element) -> DicomJson:
    """PS3.19 A.1.5: component groups of components → DICOM JSON PN (PS3.18 F.2.2)."""
    value: DicomJson = {}
    for group in element:
        name = _local(group.tag)
        if name not in _PN_GROUPS:
            continue
        components = {_local(c.tag): c.text or "" for c in group}
        joined = "^".join(components.get(c, "") for c in _PN_COMPONENTS).rstrip("^")
        if joined:
            value[name] = joined
    return value
