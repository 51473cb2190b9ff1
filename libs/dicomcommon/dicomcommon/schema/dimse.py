"""The DICOM listener's reads of the index: the instances a C-MOVE or C-GET identifier names
(``services/dimse/dimse/located.py``), the instances a storage commitment asks about
(``commitment.py``) and what the indexer will answer for a C-STORE (``forecast.py``).
With study groups, each adds ``studyaccess.study_condition`` on the instance's study.
"""

from __future__ import annotations

from dicomcommon import studyaccess
from dicomcommon.schema.rows import INSTANCE_BLOB_COLUMNS

MAX_LOCATED = 65535  # the sub-operation counts are US (PS3.4 C.4.2.1.4)

# A retrieve's unique keys → the ``instance`` column each matches.
KEY_COLUMNS = {
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "SOPInstanceUID": "sop_instance_uid",
}
# Patient ID names every study of the patient (prefix-indexed, then exact).
_PATIENT_STUDIES = (
    "study_instance_uid IN (SELECT study_instance_uid FROM study"
    " WHERE left(patient_id, 256) = ANY(${n}::text[]) AND patient_id = ANY(${n}::text[]))"
)
_IN_GROUPS = "instance.study_instance_uid"  # the study whose groups decide


def key_condition(keyword: str, n: int) -> str:
    """The condition of one unique key, its values the ``text[]`` parameter ``$n``."""
    if keyword == "PatientID":
        return _PATIENT_STUDIES.replace("{n}", str(n))
    return f"{KEY_COLUMNS[keyword]} = ANY(${n}::text[])"


def located(conditions: list[str], groups_parameter: str | None = None) -> str:
    """The instances (``rows.InstanceBlob``) every condition holds for, in a stable order, at
    most one more than ``MAX_LOCATED`` (that one more tells the caller there are too many)."""
    if groups_parameter is not None:
        conditions = [*conditions, studyaccess.study_condition(_IN_GROUPS, groups_parameter)]
    return (
        f"SELECT {INSTANCE_BLOB_COLUMNS} FROM instance WHERE {' AND '.join(conditions)}"
        " ORDER BY study_instance_uid, series_instance_uid, sop_instance_uid"
        f" LIMIT {MAX_LOCATED + 1}"
    )


def committed(groups: bool) -> str:
    """The held instances among the SOP Instance UIDs ``$1`` (of the studies of the groups
    ``$2``, with ``groups``)."""
    query = (
        "SELECT sop_instance_uid, sop_class_uid, blob_key FROM instance"
        " WHERE sop_instance_uid = ANY($1::text[])"
    )
    if groups:
        query += " AND " + studyaccess.study_condition(_IN_GROUPS, "$2")
    return query


# One round trip for the forecasts of concurrent C-STOREs: for each (SOP Instance UID ``$1[n]``,
# target study ``$2[n]``) a row numbered ``n`` (``ord``) with the target study's groups, and
# the instance that holds the UID (if any) with its own study's groups.
FORECAST = """
SELECT k.ord,
       (SELECT access_groups FROM study WHERE study_instance_uid = k.study) AS study_groups,
       i.sha256, i.study_instance_uid, i.series_instance_uid,
       (SELECT access_groups FROM study s WHERE s.study_instance_uid = i.study_instance_uid)
           AS held_groups
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(sop, study, ord)
LEFT JOIN instance i ON i.sop_instance_uid = k.sop
"""
