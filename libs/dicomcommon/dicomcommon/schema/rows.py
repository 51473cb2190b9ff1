"""Rows of the index as the readers receive them, beside the columns they are read from."""

from __future__ import annotations

from dataclasses import dataclass

# The ``instance`` columns of ``InstanceBlob``, in its field order.
INSTANCE_BLOB_COLUMNS = (
    "study_instance_uid, series_instance_uid, sop_instance_uid, sop_class_uid,"
    " transfer_syntax_uid, blob_key"
)


@dataclass(frozen=True)
class InstanceBlob:
    """An indexed instance as a retrieve needs it (WADO, DIMSE C-MOVE / C-GET): its UIDs, its
    SOP class, how it is encoded and where its blob is."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str
