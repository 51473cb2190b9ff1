"""Study access groups in the indexer, against real PostgreSQL: a new study takes its
uploader's groups, an existing one keeps its own and refuses uploaders outside them (on the
bulk path and command by command), deletes outside the caller's groups find nothing, and
feed rows remember the groups their study had."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.adapters.events import DeleteRequested, InstanceStored, OutcomeStatus
from indexer.batch import apply_batch

pytestmark = pytest.mark.integration

CARDIO, NEURO = ["cardio"], ["neuro"]


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _store(
    study: str, groups: list[str] | None, sop: str | None = None, **extra: Any
) -> InstanceStored:
    """A store by an uploader limited to ``groups`` (``None``: an admin), whose new studies
    get those groups."""
    description = extra.pop("description", "first")
    return InstanceStored(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
        series_instance_uid=extra.pop("series", f"{study}.1"),
        sop_instance_uid=sop or _uid(), sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1", blob_key=f"test/{uuid.uuid4().hex}",
        size=10, sha256=extra.pop("sha256", "a" * 64),
        metadata={"00081030": {"vr": "LO", "Value": [description]}},
        access_groups=groups or [], uploader_groups=groups, **extra,
    )  # fmt: skip


async def _study(pool: asyncpg.Pool, study: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        pool,
        "SELECT access_groups, study_description, number_of_instances FROM study"
        " WHERE study_instance_uid = $1",
        study,
    )


async def _instances(pool: asyncpg.Pool, study: str) -> int:
    rows = await db.fetch(pool, "SELECT 1 FROM instance WHERE study_instance_uid = $1", study)
    return len(rows)


async def _cleanup_queued(pool: asyncpg.Pool, key: str) -> bool:
    return bool(await db.fetch(pool, "SELECT 1 FROM blob_cleanup WHERE blob_key = $1", key))


async def test_a_new_study_takes_its_uploaders_groups_and_keeps_them(pool: asyncpg.Pool) -> None:
    study = _uid()
    [created] = await apply_batch(pool, [(12_000_001, _store(study, ["cardio", "research"]))])
    both = _store(study, ["cardio", "neuro"], description="second")
    [added] = await apply_batch(pool, [(12_000_002, both)])
    assert (created.status, added.status) == (OutcomeStatus.STORED, OutcomeStatus.STORED)
    row = await _study(pool, study)
    assert row is not None and row["access_groups"] == ["cardio", "research"]
    assert row["study_description"] == "second"  # a member may update the study's attributes


@pytest.mark.parametrize("path", ["bulk", "per command"])
async def test_a_store_into_a_study_of_other_groups_is_refused(
    private_pool: asyncpg.Pool, path: str
) -> None:
    """Refused whole: no instance, no series, the study's attributes untouched, the blob
    queued for removal. New instances take the bulk path; a re-store after a delete of
    another instance of the study goes command by command."""
    study, base = _uid(), 12_100_000 if path == "bulk" else 12_200_000
    await apply_batch(private_pool, [(base + 1, _store(study, CARDIO))])
    if path == "per command":  # a tombstone in the study's scope forces the per-command path
        await apply_batch(private_pool, [(base + 2, DeleteRequested(
            command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
            series_instance_uid=f"{study}.9"))])  # fmt: skip
    intruder = _store(study, NEURO, series=f"{study}.9", description="overwritten")
    [outcome] = await apply_batch(private_pool, [(base + 3, intruder)])
    assert outcome.status is OutcomeStatus.REFUSED
    assert "access groups" in outcome.detail
    row = await _study(private_pool, study)
    assert row is not None
    assert (row["access_groups"], row["study_description"]) == (CARDIO, "first")
    assert await _instances(private_pool, study) == 1
    series = intruder.series_instance_uid
    assert not await db.fetch(
        private_pool, "SELECT 1 FROM series WHERE series_instance_uid = $1", series
    )
    assert await _cleanup_queued(private_pool, intruder.blob_key)


async def test_in_one_batch_the_first_uploader_creates_and_others_are_refused(
    pool: asyncpg.Pool,
) -> None:
    study = _uid()
    outcomes = await apply_batch(
        pool,
        [(12_300_001, _store(study, CARDIO)), (12_300_002, _store(study, NEURO)),
         (12_300_003, _store(study, None))],
    )  # fmt: skip
    assert [o.status for o in outcomes] == [
        OutcomeStatus.STORED, OutcomeStatus.REFUSED, OutcomeStatus.STORED,
    ]  # fmt: skip
    row = await _study(pool, study)
    assert row is not None and row["access_groups"] == CARDIO
    assert row["number_of_instances"] == 2


async def test_replacing_an_instance_of_a_study_of_other_groups_is_refused(
    pool: asyncpg.Pool,
) -> None:
    study, sop = _uid(), _uid()
    await apply_batch(pool, [(12_400_001, _store(study, CARDIO, sop))])
    other_study = _uid()  # the intruder names its own study, the instance lives in ``study``
    replace = _store(other_study, NEURO, sop, sha256="b" * 64, allow_replace=True)
    [outcome] = await apply_batch(pool, [(12_400_002, replace)])
    assert outcome.status is OutcomeStatus.REFUSED
    assert await _instances(pool, study) == 1
    assert await _study(pool, other_study) is None


async def test_a_delete_outside_the_callers_groups_finds_nothing(pool: asyncpg.Pool) -> None:
    study = _uid()
    await apply_batch(pool, [(12_500_001, _store(study, CARDIO))])

    def delete(groups: list[str] | None) -> DeleteRequested:
        return DeleteRequested(command_id=uuid.uuid4().hex, request_id="test",
                               study_instance_uid=study, access_groups=groups)  # fmt: skip

    [foreign] = await apply_batch(pool, [(12_500_002, delete(NEURO))])
    assert foreign.status is OutcomeStatus.NOT_FOUND
    assert await _instances(pool, study) == 1
    tomb = await db.fetch(pool, "SELECT 1 FROM scope_tombstone WHERE scope_uid = $1", study)
    assert not tomb  # nothing written: a later store of the owners is not affected
    [own] = await apply_batch(pool, [(12_500_003, delete(["neuro", "cardio"]))])
    assert own.status is OutcomeStatus.DELETED
    assert await _study(pool, study) is None


async def test_feed_rows_keep_the_groups_their_study_had(pool: asyncpg.Pool) -> None:
    study = _uid()
    await apply_batch(pool, [(12_600_001, _store(study, CARDIO))])
    await apply_batch(pool, [(12_600_002, DeleteRequested(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study))])  # fmt: skip
    rows = await db.fetch(
        pool,
        "SELECT action, access_groups FROM change_feed WHERE study_instance_uid = $1"
        " ORDER BY sequence",
        study,
    )
    assert [(r[0], r[1]) for r in rows] == [("Create", CARDIO), ("Delete", CARDIO)]
