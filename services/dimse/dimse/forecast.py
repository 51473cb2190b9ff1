"""What the indexer will answer for a store, read from the index before C-STORE answers.

A C-STORE answered once its command is durable (``confirm=durable``, STOW's 202 promise) does
not hear the indexer's outcome; the failures the indexer would report are decided here first,
by its rules: the study access groups (``studyaccess.refuses``) of the study the instance
goes to and of the study that holds its SOP Instance UID, and the duplicate policy (the same
bytes in the same place: nothing to do; other bytes: a conflict unless the policy
overwrites). Two stores racing for one new SOP Instance UID can both pass; the indexer then
keeps the first in stream order, and the other's outcome is logged (``store``).
"""

from __future__ import annotations

import enum

import asyncpg

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom.dataset import Instance
from dicomcommon.schema import dimse as reads


class Forecast(enum.Enum):
    NEW = "new"  # store it
    DUPLICATE = "duplicate"  # the same instance is held already: success, nothing to store
    CONFLICT = "conflict"  # other bytes hold the UID and the policy rejects them
    REFUSED = "refused"  # a study involved is outside the uploader's groups


async def forecast(
    pool: asyncpg.Pool, instance: Instance, upload: studyaccess.Upload, allow_replace: bool
) -> Forecast:
    row = await db.fetchrow(
        pool, reads.FORECAST, instance.sop_instance_uid, instance.study_instance_uid
    )
    assert row is not None  # the outer join always yields one row
    if studyaccess.refuses(_groups(row["study_groups"]), upload.may_store_in):
        return Forecast.REFUSED
    if row["sha256"] is None:
        return Forecast.NEW
    if studyaccess.refuses(_groups(row["held_groups"]), upload.may_store_in):
        return Forecast.REFUSED
    place = (row["study_instance_uid"], row["series_instance_uid"])
    if row["sha256"] == instance.sha256 and place == (
        instance.study_instance_uid,
        instance.series_instance_uid,
    ):
        return Forecast.DUPLICATE
    return Forecast.NEW if allow_replace else Forecast.CONFLICT


def _groups(value: list[str] | None) -> studyaccess.Groups | None:
    return None if value is None else tuple(value)
