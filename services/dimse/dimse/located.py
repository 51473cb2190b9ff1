"""What a C-MOVE or C-GET identifier names (PS3.4 C.4.2.2.1): the instances of the studies,
series or SOP instances listed by their unique keys, found in the index with their blobs.

Retrieval uses only the unique keys of the level (C.4.2.2.1.2): Patient ID at the PATIENT level
(Patient Root: every study of those patients), the UIDs at STUDY / SERIES / IMAGE, each a value
or a ``\\``-separated list; every key is validated before it reaches the query (a parameter,
never pasted). With study groups on, only the studies the calling AE may see are named. One
row per instance: the SOP class and the stored transfer syntax decide the presentation
contexts, the blob key where its bytes are.
"""

from __future__ import annotations

import asyncpg
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom.uids import is_safe_uid
from dicomcommon.schema import dimse as reads
from dicomcommon.schema.rows import InstanceBlob

# Level → the unique keys that may narrow it, highest level first (C.4.2.2.1).
_KEYS = {
    "PATIENT": ("PatientID",),
    "STUDY": ("StudyInstanceUID",),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}
_MAX_PATIENT_ID = 64  # LO (PS3.5 6.2)
MAX_INSTANCES = reads.MAX_LOCATED


class InvalidIdentifier(ValueError):
    """The identifier names no retrievable level or carries a malformed key."""


LocatedInstance = InstanceBlob


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
            if not all(_valid(keyword, u) for u in uids):
                raise InvalidIdentifier(f"{keyword} is not a valid list of values: {uids[:3]!r}")
            keys[keyword] = uids
    if _KEYS[level][-1] not in keys:
        raise InvalidIdentifier(f"a {level} retrieve needs {_KEYS[level][-1]}")
    return keys


def _valid(keyword: str, value: str) -> bool:
    """A UID is a safe UID; a Patient ID a single value (no wildcard: C.4.2.2.1.2)."""
    if keyword != "PatientID":
        return is_safe_uid(value)
    return len(value) <= _MAX_PATIENT_ID and value.isprintable() and not set(value) & set("*?")


async def instances(
    pool: asyncpg.Pool, keys: dict[str, list[str]], groups: studyaccess.Groups | None = None
) -> list[LocatedInstance]:
    """Every indexed instance the keys name (of the studies of ``groups`` when given), in a
    stable order; at most ``MAX_INSTANCES + 1`` (one more tells the caller there are too many)."""
    conditions = [reads.key_condition(k, i + 1) for i, k in enumerate(keys)]
    args: list[object] = list(keys.values())
    if groups is not None:
        args.append(list(groups))
    text = reads.located(conditions, None if groups is None else f"${len(args)}")
    rows = await db.fetch(pool, text, *args)
    return [LocatedInstance(*(row[i] for i in range(6))) for row in rows]
