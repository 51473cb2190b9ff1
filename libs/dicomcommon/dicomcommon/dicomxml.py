"""DICOM JSON (PS3.18 F.2) to the Native DICOM Model XML (PS3.19 A.1), for ``+xml`` answers."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pydicom.datadict import keyword_for_tag

_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")


def to_xml(dataset: dict[str, Any]) -> bytes:
    """One ``NativeDicomModel`` document for one data set."""
    body = "".join(_attributes(dataset))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">{body}'
        "</NativeDicomModel>\n"
    ).encode()


def _attributes(dataset: dict[str, Any]) -> list[str]:
    out = []
    for tag, element in dataset.items():
        vr = element.get("vr", "UN")
        keyword = keyword_for_tag(int(tag, 16))
        attrs = f'tag="{tag}" vr="{vr}"' + (f' keyword="{keyword}"' if keyword else "")
        out.append(f"<DicomAttribute {attrs}>{_content(vr, element)}</DicomAttribute>")
    return out


def _content(vr: str, element: dict[str, Any]) -> str:
    if "BulkDataURI" in element:
        return f"<BulkData uri={quoteattr(element['BulkDataURI'])}/>"
    if "InlineBinary" in element:
        return f"<InlineBinary>{escape(element['InlineBinary'])}</InlineBinary>"
    values = element.get("Value", [])
    if vr == "SQ":
        return "".join(
            f'<Item number="{i}">{"".join(_attributes(item))}</Item>'
            for i, item in enumerate(values, 1)
        )
    if vr == "PN":
        return "".join(_person_name(i, v) for i, v in enumerate(values, 1))
    return "".join(
        f'<Value number="{i}">{escape(str(v))}</Value>'
        for i, v in enumerate(values, 1)
        if v is not None
    )


def _person_name(number: int, value: dict[str, str]) -> str:
    groups = []
    for group in _PN_GROUPS:
        if value.get(group):
            parts = value[group].split("^")
            comps = "".join(
                f"<{name}>{escape(part)}</{name}>"
                for name, part in zip(_PN_COMPONENTS, parts, strict=False)
                if part
            )
            groups.append(f"<{group}>{comps}</{group}>")
    return f'<PersonName number="{number}">{"".join(groups)}</PersonName>'
