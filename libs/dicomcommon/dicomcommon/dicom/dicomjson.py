"""DICOM JSON (PS3.18 Annex F) and Native DICOM Model XML (PS3.19 Annex A) helpers.

Owns the data dictionary look-ups (via pydicom's datadict, never a hand-written table), which
information-model level an attribute belongs to (PS3.4 C.6.1.1), and rendering a DICOM JSON
object as Native DICOM Model XML for ``multipart/related; type="application/dicom+xml"``.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pydicom import datadict

DicomJson = dict[str, Any]

_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")


class Level(enum.IntEnum):
    """Query/Retrieve information-model levels (PS3.4 C.6.1), ordered top to bottom."""

    STUDY = 1
    SERIES = 2
    INSTANCE = 3


@dataclass(frozen=True, slots=True)
class Attribute:
    """A data element as the query model and the response builder see it."""

    tag: str  # eight upper-case hex digits, the DICOM JSON key
    keyword: str  # empty for private or unknown tags
    vr: str
    declared_level: Level | None = None  # an extended query tag's level, which wins

    @property
    def level(self) -> Level:
        return self.declared_level or level_of(self.keyword)

    def __str__(self) -> str:
        return self.keyword or self.tag


@functools.lru_cache(maxsize=4096)
def lookup(key: str) -> Attribute | None:
    """Resolve a keyword (``PatientName``) or a ``ggggeeee`` tag; ``None`` when neither.

    PS3.18 §8.3.4.1 allows both forms. Tags missing from the dictionary (private ones) are
    kept with VR ``UN``; ambiguous VRs (``US or SS``) take their first alternative.
    """
    if _TAG.match(key):
        number = int(key, 16)
        keyword = datadict.keyword_for_tag(number) or ""
        vr = datadict.dictionary_VR(number) if datadict.dictionary_has_tag(number) else "UN"
        return Attribute(key.upper(), keyword, vr.split(" ")[0])
    found = datadict.tag_for_keyword(key)
    if found is None:
        return None
    return Attribute(f"{found:08X}", key, datadict.dictionary_VR(found).split(" ")[0])


def attribute(keyword: str) -> Attribute:
    """The attribute of a dictionary keyword; for module constants, so it fails loudly."""
    found = lookup(keyword)
    if found is None:
        raise KeyError(keyword)
    return found


# Patient and study level attributes (PS3.4 C.6.1.1.2-3, PS3.3 C.7.1.1, C.7.2.1-2): what the
# indexer keeps in ``study.attributes``. Series level (PS3.4 C.6.1.1.4, PS3.3 C.7.3.1, C.7.5.1)
# lives in ``series.attributes``; everything else is instance level (``instance.metadata``).
STUDY_LEVEL_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
        "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthDate", "PatientBirthTime",
        "PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup", "Occupation",
        "AdditionalPatientHistory", "PatientComments", "PatientSpeciesDescription",
        "PatientBreedDescription", "ResponsiblePerson", "PatientIdentityRemoved",
        "StudyDate", "StudyTime", "AccessionNumber", "IssuerOfAccessionNumberSequence",
        "StudyInstanceUID", "StudyID", "StudyDescription", "ReferringPhysicianName",
        "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "ProcedureCodeSequence",
        "AdmittingDiagnosesDescription", "ReasonForPerformedProcedureCodeSequence",
        "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances", "TimezoneOffsetFromUTC",
    }
)  # fmt: skip
SERIES_LEVEL_KEYWORDS = frozenset(
    {
        "Modality", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "SeriesDate",
        "SeriesTime", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
        "PerformedProcedureStepID", "PerformedProcedureStepDescription",
        "RequestAttributesSequence", "BodyPartExamined", "Laterality", "ProtocolName",
        "OperatorsName", "PerformingPhysicianName", "PatientPosition", "FrameOfReferenceUID",
        "Manufacturer", "InstitutionName", "InstitutionAddress", "StationName",
        "InstitutionalDepartmentName", "ManufacturerModelName", "DeviceSerialNumber",
        "SoftwareVersions", "NumberOfSeriesRelatedInstances", "AnatomicalOrientationType",
    }
)  # fmt: skip
# The instance attributes every QIDO-RS instance match returns (PS3.18 Table 10.6.3-5); the
# indexer keeps them in the small ``instance.attributes`` so a long instance list never reads
# the full metadata.
INSTANCE_SUMMARY_KEYWORDS = (
    "SpecificCharacterSet", "SOPClassUID", "TimezoneOffsetFromUTC", "InstanceNumber", "Rows",
    "Columns", "BitsAllocated", "NumberOfFrames",
)  # fmt: skip


def level_of(keyword: str) -> Level:
    """The information-model level an attribute is stored and matched at."""
    if keyword in STUDY_LEVEL_KEYWORDS:
        return Level.STUDY
    if keyword in SERIES_LEVEL_KEYWORDS:
        return Level.SERIES
    return Level.INSTANCE


def element(vr: str, *values: Any) -> DicomJson:
    """One DICOM JSON attribute object (PS3.18 F.2.2); no ``Value`` when empty."""
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")


def to_native_xml(dataset: DicomJson) -> bytes:
    """Render a DICOM JSON object as a PS3.19 A.1 ``NativeDicomModel`` document."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xml:space="preserve">']
    _append_attributes(parts, dataset)
    parts.append("</NativeDicomModel>\n")
    return "".join(parts).encode()


def _append_attributes(parts: list[str], dataset: DicomJson) -> None:
    for tag in sorted(dataset):
        item = dataset[tag]
        vr = item.get("vr", "UN")
        keyword = datadict.keyword_for_tag(int(tag, 16)) or ""
        keyword_attr = f" keyword={quoteattr(keyword)}" if keyword else ""
        parts.append(f'<DicomAttribute tag="{tag}" vr="{vr}"{keyword_attr}>')
        _append_values(parts, vr, item)
        parts.append("</DicomAttribute>")


def _append_values(parts: list[str], vr: str, item: DicomJson) -> None:
    if "BulkDataURI" in item:
        parts.append(f"<BulkData uri={quoteattr(item['BulkDataURI'])}/>")
        return
    if "InlineBinary" in item:
        parts.append(f"<InlineBinary>{escape(item['InlineBinary'])}</InlineBinary>")
        return
    for number, value in enumerate(item.get("Value", ()), start=1):
        if vr == "SQ":
            parts.append(f'<Item number="{number}">')
            _append_attributes(parts, value or {})
            parts.append("</Item>")
        elif vr == "PN":
            _append_person_name(parts, number, value or {})
        elif value is None:
            parts.append(f'<Value number="{number}"/>')
        else:
            parts.append(f'<Value number="{number}">{escape(str(value))}</Value>')


def _append_person_name(parts: list[str], number: int, value: DicomJson) -> None:
    parts.append(f'<PersonName number="{number}">')
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        if not value.get(group):
            continue
        parts.append(f"<{group}>")
        for name, component in zip(_PN_COMPONENTS, value[group].split("^"), strict=False):
            if component:
                parts.append(f"<{name}>{escape(component)}</{name}>")
        parts.append(f"</{group}>")
    parts.append("</PersonName>")
