"""Which attributes belong to the study and series rows, and the typed columns read from them.

The study row keeps the Patient and General Study modules of the newest instance; the series
row keeps the series-level attributes (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1; PS3.18 §10.6.3).
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import tag_for_keyword

StudyJson = dict[str, Any]


def _tags(*keywords: str) -> frozenset[str]:
    return frozenset(f"{tag_for_keyword(k):08X}" for k in keywords)


STUDY_TAGS = _tags(
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "ProcedureCodeSequence",
    "NameOfPhysiciansReadingStudy",
    "AdmittingDiagnosesDescription",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "Occupation",
    "AdditionalPatientHistory",
    "ReferencedStudySequence",
    "RequestingPhysician",
)
SERIES_TAGS = _tags(
    "SpecificCharacterSet",
    "Modality",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Laterality",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedProcedureStepID",
    "PerformedProcedureStepDescription",
    "RequestAttributesSequence",
    "InstitutionName",
    "StationName",
    "Manufacturer",
    "OperatorsName",
    "PerformingPhysicianName",
    "ProtocolName",
    "TimezoneOffsetFromUTC",
)


def study_attributes(metadata: StudyJson) -> StudyJson:
    """Study and patient level attributes: everything of group 0010 plus the study tags."""
    return {k: v for k, v in metadata.items() if k.startswith("0010") or k in STUDY_TAGS}


def series_attributes(metadata: StudyJson) -> StudyJson:
    return {k: v for k, v in metadata.items() if k in SERIES_TAGS}


def first(metadata: StudyJson, keyword: str) -> str | None:
    """The first value of an attribute as text (PN: its alphabetic form), or None."""
    element = metadata.get(f"{tag_for_keyword(keyword):08X}")
    if not element:
        return None
    values = element.get("Value")
    if not values or values[0] is None:
        return None
    value = values[0]
    if isinstance(value, dict):
        return value.get("Alphabetic")
    return str(value)


def first_int(metadata: StudyJson, keyword: str) -> int | None:
    value = first(metadata, keyword)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None
