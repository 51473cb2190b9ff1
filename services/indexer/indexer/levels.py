"""Which attributes belong to the study and series rows, and the typed columns read from them.

The study row keeps the patient and study level attributes of the newest instance; the series
row keeps the series level ones (PS3.4 C.6.1.1; PS3.18 §10.6.3); the instance row, beside its
whole metadata, the few attributes an instance search returns (as JSON text).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydicom.datadict import tag_for_keyword

from dicomcommon.dicom import dicomjson

StudyJson = dict[str, Any]


def _tags(keywords: frozenset[str]) -> frozenset[str]:
    return frozenset(f"{tag_for_keyword(k):08X}" for k in keywords if tag_for_keyword(k))


# The same split QIDO matches on (``dicomjson``), so storing and searching agree.
STUDY_TAGS = _tags(dicomjson.STUDY_LEVEL_KEYWORDS | {"SpecificCharacterSet"})
SERIES_TAGS = _tags(
    dicomjson.SERIES_LEVEL_KEYWORDS | {"SpecificCharacterSet", "TimezoneOffsetFromUTC"}
)
INSTANCE_TAGS = _tags(frozenset(dicomjson.INSTANCE_SUMMARY_KEYWORDS))


def study_attributes(metadata: StudyJson) -> StudyJson:
    """Patient and study level attributes of one instance."""
    return {k: v for k, v in metadata.items() if k in STUDY_TAGS}


def series_attributes(metadata: StudyJson) -> StudyJson:
    return {k: v for k, v in metadata.items() if k in SERIES_TAGS}


def instance_summary(metadata: StudyJson) -> str:
    """What every instance match of a search returns, apart from the computed attributes: the
    members of a DICOM JSON object as text, without the braces (QIDO appends them as they are)."""
    kept = {k: v for k, v in metadata.items() if k in INSTANCE_TAGS}
    return orjson.dumps(kept).decode()[1:-1]


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
