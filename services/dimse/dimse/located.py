"""What a C-MOVE or C-GET identifier names (PS3.4 C.4.2.2.1): the instances of the studies,
series or SOP instances listed by their unique keys, found in the index with their blobs.

Retrieval uses only the unique keys of the level (C.4.2.2.1.2: Study Root and Patient Root,
STUDY / SERIES / IMAGE), each a UID or a ``\\``-separated list of UIDs; every UID is validated
before it reaches the query. One row per instance: the SOP class and the stored transfer
syntax decide the presentation contexts, the blob key where its bytes are.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomcommon.adapters import db
from dicomcommon.dicom.uids import is_safe_uid

# Level → the unique keys that may narrow it, highest level first (C.4.2.2.1).
_KEYS = {
    "STUDY": ("StudyInstanceUID",),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
_COLUMNS = {
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "SOPInstanceUID": "sop_instance_uid",
}
MAX_INSTANCES = 65535  # the sub-operation counts are US (PS3.4 C.4.2.1.4)


class InvalidIdentifier(ValueError):
    """The identifier names no retrievable level or carries a malformed key."""


@dataclass(frozen=True)
class LocatedInstance:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_key: str


def unique_keys(identifier: Dataset) -> dict[str, list[str]]:
    """The identifier's unique keys (keyword → UIDs); the lowest level's key is required."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in _KEYS:
        raise InvalidIdentifier(f"unsupported Query/Retrieve Level {level!r}")
    keys: dict[str, list[str]] = {}
    for keyword in _KEYS[level]:
        value = identifier.get(keyword) or ""
        uids = [str(u).strip() for u in (value if isinstance(value, MultiValue) else [value])]
        uids = [u for part in uids for u in part.split("\\") if u]
        if uids:
            if not all(is_safe_uid(u) for u in uids):
                raise InvalidIdentifier(f"{keyword} is not a valid UID list: {uids[:3]!r}")
            keys[keyword] = uids
    if _KEYS[level][-1] not in keys:
        raise InvalidIdentifier(f"a {level} retrieve needs {_KEYS[level][-1]}")
    return keys


async def instances(pool: asyncpg.Pool, keys: dict[str, list[str]]) -> list[LocatedInstance]:
    """Every indexed instance the keys name, in a stable order; at most ``MAX_INSTANCES + 1``
    (one more tells the caller there are too many)."""
    where = " AND ".join(f"{_COLUMNS[k]} = ANY(${i + 1}::text[])" for i, k in enumerate(keys))
    rows = await db.fetch(
        pool,
        "SELECT study_instance_uid, series_instance_uid, sop_instance_uid, sop_class_uid,"
        f" transfer_syntax_uid, blob_key FROM instance WHERE {where}"
        f" ORDER BY study_instance_uid, series_instance_uid, sop_instance_uid"
        f" LIMIT {MAX_INSTANCES + 1}",
        *keys.values(),
    )
    return [LocatedInstance(*(row[i] for i in range(6))) for row in rows]
