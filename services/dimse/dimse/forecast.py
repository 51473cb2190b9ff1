"""What the indexer will answer for a store, read from the index before C-STORE answers.

A C-STORE answered once its command is durable (``confirm=durable``, STOW's 202 promise) does
not hear the indexer's outcome; the failures the indexer would report are decided here first,
by its rules: the study access groups (``studyaccess.refuses``) of the study the instance
goes to and of the study that holds its SOP Instance UID, and the duplicate policy (the same
bytes in the same place: nothing to do; other bytes: a conflict unless the policy
overwrites). Two stores racing for one new SOP Instance UID can both pass; the indexer then
keeps the first in stream order, and the other's outcome is logged (``store``).

Concurrent stores (several associations) read their forecasts together: while one statement
is on its way to PostgreSQL, the stores that ask meanwhile wait and go as the next one (one
round trip, one pool connection for all of them), as their commands are published in groups.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import asyncpg

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.adapters.grouping import Gathering, fail
from dicomcommon.dicom.dataset import Instance
from dicomcommon.errors import BackendUnavailable
from dicomcommon.schema import dimse as reads


class Forecast(enum.Enum):
    NEW = "new"  # store it
    DUPLICATE = "duplicate"  # the same instance is held already: success, nothing to store
    CONFLICT = "conflict"  # other bytes hold the UID and the policy rejects them
    REFUSED = "refused"  # a study involved is outside the uploader's groups


_MOST_PER_READ = 256  # stores per statement: a bounded array, a bounded wait for the last


class ForecastReads(Gathering[tuple[str, str], Any]):
    """The forecast rows of concurrent stores, read in one statement per group."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__("dimse-forecast")
        self.pool = pool

    async def row(self, sop_instance_uid: str, study_instance_uid: str) -> Any:
        """The forecast row of one store (``BackendUnavailable`` in an outage)."""
        return await self._submit((sop_instance_uid, study_instance_uid))

    async def _drain(self) -> None:
        try:
            while self._queue:
                group = self._queue[:_MOST_PER_READ]
                del self._queue[:_MOST_PER_READ]
                await self._read(group)
        except asyncio.CancelledError:  # the service stops: nothing left may wait forever
            fail(self._queue, BackendUnavailable("the service stops"))
            self._queue.clear()
            raise

    async def _read(self, group: list[tuple[tuple[str, str], asyncio.Future[Any]]]) -> None:
        keys = [key for key, _ in group]
        try:
            rows = await db.fetch(
                self.pool, reads.FORECAST, [k[0] for k in keys], [k[1] for k in keys]
            )
        except asyncio.CancelledError:
            fail(group, BackendUnavailable("the service stops"))
            raise
        except Exception as exc:  # every store of the group fails alike
            fail(group, exc)
            return
        by_number = {row["ord"]: row for row in rows}  # one row each: the outer join
        for number, (_, done) in enumerate(group, start=1):
            if not done.done():  # its C-STORE gave up waiting
                done.set_result(by_number[number])


async def forecast(
    forecasts: ForecastReads,
    instance: Instance,
    upload: studyaccess.Upload,
    allow_replace: bool,
) -> Forecast:
    row = await forecasts.row(instance.sop_instance_uid, instance.study_instance_uid)
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
