"""The indexer's apply logic against real PostgreSQL: idempotent, and in stream order whatever
order the batches arrive in (as with several replicas). Events are built directly; the blob
keys they name are never read here."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from dicomcommon.adapters import db
from dicomcommon.adapters.events import DeleteRequested, InstanceStored, OutcomeStatus
from dicomcommon.schema import feed as feed_reads
from indexer import parking
from indexer.batch import apply_batch
from tests import poison

pytestmark = pytest.mark.integration


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _store(sop: str, study: str, series: str, sha: str = "a" * 64, **extra: Any) -> InstanceStored:
    metadata = {
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00100020": {"vr": "LO", "Value": ["PID"]},
        **extra.pop("metadata", {}),
    }
    return InstanceStored(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
        series_instance_uid=series, sop_instance_uid=sop, sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1", blob_key=f"test/{uuid.uuid4().hex}",
        size=10, sha256=sha, metadata=metadata, **extra,
    )  # fmt: skip


def _delete(study: str, series: str | None = None, sop: str | None = None) -> DeleteRequested:
    return DeleteRequested(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
        series_instance_uid=series, sop_instance_uid=sop,
    )  # fmt: skip


async def _instances(pool: asyncpg.Pool, study: str) -> list[str]:
    rows = await db.fetch(
        pool, "SELECT sop_instance_uid FROM instance WHERE study_instance_uid = $1", study
    )
    return sorted(r[0] for r in rows)


async def _feed(pool: asyncpg.Pool, study: str) -> list[tuple[str, str, int]]:
    rows = await db.fetch(
        pool,
        "SELECT action, sop_instance_uid, version FROM change_feed"
        " WHERE study_instance_uid = $1 ORDER BY sequence",
        study,
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def test_redelivered_store_changes_nothing(pool: asyncpg.Pool) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    event = _store(sop, study, series)
    for _ in range(2):
        [outcome] = await apply_batch(pool, [(1_000_001, event)])
        assert outcome.status is OutcomeStatus.STORED
    assert await _instances(pool, study) == [sop]
    assert await _feed(pool, study) == [("Create", sop, 1_000_001)]


async def test_delete_applied_before_an_older_store_wins(pool: asyncpg.Pool) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    [deleted] = await apply_batch(pool, [(2_000_011, _delete(study, series, sop))])
    assert deleted.status is OutcomeStatus.NOT_FOUND
    [stored] = await apply_batch(pool, [(2_000_010, _store(sop, study, series))])
    assert stored.status is OutcomeStatus.STALE
    assert await _instances(pool, study) == []


async def test_older_study_delete_applied_late_keeps_newer_store(pool: asyncpg.Pool) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    [stored] = await apply_batch(pool, [(3_000_011, _store(sop, study, series))])
    [deleted] = await apply_batch(pool, [(3_000_010, _delete(study))])
    assert stored.status is OutcomeStatus.STORED
    assert deleted.status is OutcomeStatus.NOT_FOUND
    assert await _instances(pool, study) == [sop]


async def test_store_then_delete_in_one_batch(pool: asyncpg.Pool) -> None:
    study, series = _uid(), _uid()
    a, b = _uid(), _uid()
    outcomes = await apply_batch(
        pool,
        [
            (4_000_001, _store(a, study, series)),
            (4_000_002, _store(b, study, series)),
            (4_000_003, _delete(study, series, a)),
        ],
    )
    assert [o.status for o in outcomes] == [
        OutcomeStatus.STORED,
        OutcomeStatus.STORED,
        OutcomeStatus.DELETED,
    ]
    assert await _instances(pool, study) == [b]
    feed = await _feed(pool, study)
    assert feed == [("Create", a, 4_000_001), ("Create", b, 4_000_002), ("Delete", a, 4_000_003)]
    counts = await db.fetchrow(
        pool, "SELECT number_of_instances FROM study WHERE study_instance_uid = $1", study
    )
    assert counts is not None and counts[0] == 1


async def test_identical_content_is_a_duplicate_and_other_content_a_conflict(
    private_pool: asyncpg.Pool,
) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    await apply_batch(private_pool, [(5_000_001, _store(sop, study, series, sha="a" * 64))])
    duplicate = _store(sop, study, series, sha="a" * 64)
    conflict = _store(sop, study, series, sha="b" * 64)
    outcomes = await apply_batch(private_pool, [(5_000_002, duplicate), (5_000_003, conflict)])
    assert [o.status for o in outcomes] == [OutcomeStatus.DUPLICATE, OutcomeStatus.CONFLICT]
    queued = await db.fetch(
        private_pool,
        "SELECT blob_key FROM blob_cleanup WHERE blob_key = ANY($1::text[])",
        [duplicate.blob_key, conflict.blob_key],
    )
    assert len(queued) == 2  # the extra copies are cleaned up


async def test_replace_when_allowed_queues_the_old_blob(private_pool: asyncpg.Pool) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    first = _store(sop, study, series, sha="a" * 64)
    await apply_batch(private_pool, [(6_000_001, first)])
    second = _store(sop, study, series, sha="c" * 64, allow_replace=True)
    [outcome] = await apply_batch(private_pool, [(6_000_002, second)])
    assert outcome.status is OutcomeStatus.REPLACED
    row = await db.fetchrow(
        private_pool, "SELECT blob_key FROM instance WHERE sop_instance_uid=$1", sop
    )
    assert row is not None and row[0] == second.blob_key
    assert [a for a, _, _ in await _feed(private_pool, study)] == ["Create", "Update"]
    queued = await db.fetch(
        private_pool, "SELECT 1 FROM blob_cleanup WHERE blob_key = $1", first.blob_key
    )
    assert len(queued) == 1


async def test_a_command_the_schema_refuses_fails_alone(pool: asyncpg.Pool) -> None:
    study, series = _uid(), _uid()
    good, bad = _uid(), _uid()
    refused = {"00081030": {"vr": "LO", "Value": ["nul \u0000 in text"]}}  # jsonb refuses \u0000
    outcomes = await apply_batch(
        pool,
        [
            (7_000_001, _store(good, study, series)),
            (7_000_002, _store(bad, study, series, metadata=refused)),
        ],
    )
    assert [o.status for o in outcomes] == [OutcomeStatus.STORED, OutcomeStatus.FAILED]
    assert await _instances(pool, study) == [good]


async def test_feed_sequences_are_gap_free(pool: asyncpg.Pool) -> None:
    study, series = _uid(), _uid()
    events = [(8_000_000 + i, _store(_uid(), study, series)) for i in range(20)]
    await apply_batch(pool, events)
    rows = await db.fetch(
        pool, "SELECT sequence FROM change_feed WHERE study_instance_uid=$1 ORDER BY 1", study
    )
    sequences = [r[0] for r in rows]
    assert sequences == list(range(sequences[0], sequences[0] + 20))


async def test_instance_row_keeps_the_attributes_an_instance_search_returns(
    pool: asyncpg.Pool,
) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    rows = {"00280010": {"vr": "US", "Value": [512]}, "00180050": {"vr": "DS", "Value": [1.25]}}
    await apply_batch(pool, [(9_000_000, _store(sop, study, series, metadata=rows))])
    kept = await db.fetchrow(pool, "SELECT summary FROM instance WHERE sop_instance_uid=$1", sop)
    assert kept is not None
    assert orjson.loads("{" + kept["summary"] + "}") == {"00280010": {"vr": "US", "Value": [512]}}


async def _counts(pool: asyncpg.Pool, study: str) -> tuple[Any, ...]:
    row = await db.fetchrow(
        pool,
        "SELECT number_of_series, number_of_instances, modalities_in_study, sop_classes_in_study"
        " FROM study WHERE study_instance_uid = $1",
        study,
    )
    assert row is not None
    return tuple(row)


async def test_study_counts_follow_new_stores_other_paths_and_deletes(pool: asyncpg.Pool) -> None:
    """A study created by a batch starts with that batch's counts; later batches, the
    command-by-command path (a re-store after a delete) and deletes keep them exact."""
    study, ct, mr = _uid(), _uid(), _uid()
    mr_meta = {"metadata": {"00080060": {"vr": "CS", "Value": ["MR"]}}}
    first = [
        _store(_uid(), study, ct),
        _store(_uid(), study, ct),
        _store(_uid(), study, mr, **mr_meta),
    ]
    await apply_batch(pool, [(9_100_000 + n, ev) for n, ev in enumerate(first)])
    ct_class = "1.2.840.10008.5.1.4.1.1.2"
    assert await _counts(pool, study) == (2, 3, ["CT", "MR"], [ct_class])
    series = await db.fetchrow(
        pool, "SELECT number_of_instances FROM series WHERE series_instance_uid = $1", ct
    )
    assert series is not None and series[0] == 2

    await apply_batch(pool, [(9_100_010, _store(_uid(), study, ct))])
    assert await _counts(pool, study) == (2, 4, ["CT", "MR"], [ct_class])

    await apply_batch(pool, [(9_100_020, _delete(study, mr))])
    assert await _counts(pool, study) == (1, 3, ["CT"], [ct_class])

    again = first[2].model_copy(update={"command_id": uuid.uuid4().hex})
    await apply_batch(pool, [(9_100_030, again)])  # after a tombstone: the per-command path
    assert await _counts(pool, study) == (2, 4, ["CT", "MR"], [ct_class])


def _long_value(length: int) -> str:
    """Random text that does not compress below a btree row's limit (about 2.7 kB)."""
    return base64.b64encode(os.urandom(length))[:length].decode()


async def test_values_of_several_kilobytes_are_stored_in_indexed_columns(
    pool: asyncpg.Pool,
) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    long = {
        keyword: {"vr": vr, "Value": [_long_value(12_000)]}
        for keyword, vr in (("00100020", "LO"), ("00080050", "SH"), ("00080060", "CS"))
    }
    long["00080020"] = {"vr": "DA", "Value": [_long_value(9_000)]}
    [outcome] = await apply_batch(pool, [(9_100_001, _store(sop, study, series, metadata=long))])
    assert outcome.status is OutcomeStatus.STORED
    stored = await db.fetchrow(
        pool,
        "SELECT patient_id, accession_number, study_date FROM study WHERE study_instance_uid = $1",
        study,
    )
    assert stored is not None
    assert stored["patient_id"] == long["00100020"]["Value"][0]
    assert stored["study_date"] == long["00080020"]["Value"][0]


def _patient(patient_id: str) -> dict[str, Any]:
    return {"00100020": {"vr": "LO", "Value": [patient_id]}}


async def test_a_command_failing_with_any_error_is_parked_and_its_batch_mates_applied(
    pool: asyncpg.Pool,
) -> None:
    """A PostgreSQL error that is neither a data error nor an outage (here a trigger's) used
    to fail the whole batch, redelivered for ever; now the command fails alone, parked."""
    study, series, poison_study = _uid(), _uid(), _uid()
    good, bad, other = _uid(), _uid(), _uid()
    poisoned = _store(bad, poison_study, _uid(), metadata=_patient(f"{poison.PREFIX}{bad}"))
    async with db.connection(pool) as conn:
        await conn.execute(poison.INSTALL)
    try:
        outcomes = await apply_batch(
            pool,
            [
                (9_200_001, _store(good, study, series)),
                (9_200_002, poisoned),
                (9_200_003, _store(other, study, series)),
            ],
        )
        assert [o.status for o in outcomes] == [
            OutcomeStatus.STORED, OutcomeStatus.FAILED, OutcomeStatus.STORED,
        ]  # fmt: skip
        assert "injected fault" in outcomes[1].detail
        assert await _instances(pool, study) == sorted([good, other])
        [row] = await db.fetch(
            pool, "SELECT * FROM parked_command WHERE command_id = $1", poisoned.command_id
        )
        assert (row["stream_sequence"], row["blob_key"]) == (9_200_002, poisoned.blob_key)
        assert "injected fault" in row["error"]
    finally:
        async with db.connection(pool) as conn:
            await conn.execute(poison.REMOVE)
    async with db.connection(pool) as conn:
        parked = await parking.parked_command(conn, poisoned.command_id)
    assert parked == (9_200_002, poisoned)
    [retried] = await apply_batch(pool, [parked], unpark=True)
    assert retried.status is OutcomeStatus.STORED
    assert await _instances(pool, poison_study) == [bad]
    assert not await db.fetch(
        pool, "SELECT 1 FROM parked_command WHERE command_id = $1", poisoned.command_id
    )


async def _feed_metadata(pool: asyncpg.Pool, sop: str) -> list[tuple[str, bool, Any]]:
    """Each feed row of ``sop``: its action, whether it keeps a copy, and what it serves."""
    rows = await db.fetch(
        pool,
        f"SELECT f.action, f.metadata_text IS NOT NULL AS copied, {feed_reads.METADATA_COLUMN}"
        f" FROM change_feed f {feed_reads.INSTANCE_JOIN}"
        " WHERE f.sop_instance_uid = $1 ORDER BY f.sequence",
        sop,
    )
    return [
        (r["action"], r["copied"], None if r["metadata"] is None else orjson.loads(r["metadata"]))
        for r in rows
    ]


async def test_the_feed_refers_to_the_stored_metadata_and_copies_it_only_when_it_leaves(
    pool: asyncpg.Pool,
) -> None:
    """Metadata is written once: a Create row serves the instance row's metadata of its
    version; replaced, then deleted, each entry still serves the metadata as of its event."""
    study, series, sop = _uid(), _uid(), _uid()
    first = _store(sop, study, series, metadata={"00081030": {"vr": "LO", "Value": ["one"]}})
    await apply_batch(pool, [(1, first)])
    assert await _feed_metadata(pool, sop) == [("Create", False, first.metadata)]
    second = _store(
        sop, study, series, sha="b" * 64, allow_replace=True,
        metadata={"00081030": {"vr": "LO", "Value": ["two"]}},
    )  # fmt: skip
    [replaced] = await apply_batch(pool, [(2, second)])
    assert replaced.status is OutcomeStatus.REPLACED
    assert await _feed_metadata(pool, sop) == [
        ("Create", True, first.metadata),  # its version left the index: the row keeps a copy
        ("Update", False, second.metadata),
    ]
    await apply_batch(pool, [(3, _delete(study))])
    assert await _feed_metadata(pool, sop) == [
        ("Create", True, first.metadata),
        ("Update", True, second.metadata),
        ("Delete", False, None),
    ]


async def test_an_instance_stored_and_deleted_in_one_batch_keeps_its_feed_metadata(
    pool: asyncpg.Pool,
) -> None:
    study, series, sop = _uid(), _uid(), _uid()
    store = _store(sop, study, series)
    await apply_batch(pool, [(1, store), (2, _delete(study))])
    assert await _feed_metadata(pool, sop) == [
        ("Create", True, store.metadata),
        ("Delete", False, None),
    ]
