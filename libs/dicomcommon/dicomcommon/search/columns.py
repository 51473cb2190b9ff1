"""The index schema as QIDO reads it: each level's table, alias, stored document and UID
column, and the typed columns that match (and sort) common keys without the documents."""

from __future__ import annotations

from typing import Literal

from dicomcommon.dicom.dicomjson import Level

Kind = Literal["text", "date", "name", "array", "integer"]

ALIAS = {Level.STUDY: "st", Level.SERIES: "se", Level.INSTANCE: "i"}
TABLE = {Level.STUDY: "study", Level.SERIES: "series", Level.INSTANCE: "instance"}
DOC = {Level.STUDY: "st.attributes", Level.SERIES: "se.attributes", Level.INSTANCE: "i.metadata"}
# The small top-level elements of an instance's metadata, tag -> Value, kept in its row
# (migration 0021): what an undeclared instance-level key reads before the whole document.
INSTANCE_ELEMENTS = "i.search_elements"
UID = {
    Level.STUDY: "study_instance_uid",
    Level.SERIES: "series_instance_uid",
    Level.INSTANCE: "sop_instance_uid",
}

# Typed columns of the index schema (0001_index.sql): keyword -> (column, kind).
COLUMNS: dict[str, tuple[str, Kind]] = {
    "StudyInstanceUID": ("study_instance_uid", "text"),
    "PatientID": ("patient_id", "text"),
    "PatientName": ("patient_name", "name"),
    "PatientBirthDate": ("patient_birth_date", "date"),
    "PatientSex": ("patient_sex", "text"),
    "StudyDate": ("study_date", "date"),
    "StudyTime": ("study_time", "text"),
    "AccessionNumber": ("accession_number", "text"),
    "ReferringPhysicianName": ("referring_physician_name", "name"),
    "StudyID": ("study_id", "text"),
    "StudyDescription": ("study_description", "text"),
    "ModalitiesInStudy": ("modalities_in_study", "array"),
    "SOPClassesInStudy": ("sop_classes_in_study", "array"),
    "NumberOfStudyRelatedSeries": ("number_of_series", "integer"),
    "NumberOfStudyRelatedInstances": ("number_of_instances", "integer"),
    "SeriesInstanceUID": ("series_instance_uid", "text"),
    "Modality": ("modality", "text"),
    "SeriesNumber": ("series_number", "text"),
    "SeriesDescription": ("series_description", "text"),
    "PerformedProcedureStepStartDate": ("performed_procedure_step_start_date", "date"),
    "PerformedProcedureStepStartTime": ("performed_procedure_step_start_time", "text"),
    "NumberOfSeriesRelatedInstances": ("number_of_instances", "integer"),
    "SOPInstanceUID": ("sop_instance_uid", "text"),
    "SOPClassUID": ("sop_class_uid", "text"),
    "InstanceNumber": ("instance_number", "text"),
    "Rows": ("rows", "integer"),
    "Columns": ("columns", "integer"),
    "NumberOfFrames": ("number_of_frames", "integer"),
}
# Higher-level UIDs that lower tables repeat, so matching them needs no join.
SHARED = frozenset({"StudyInstanceUID", "SeriesInstanceUID"})
