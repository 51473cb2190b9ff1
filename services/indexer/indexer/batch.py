"""One transaction per batch of commands: apply each, then counts, feed rows and clean-ups.

A batch of new instances only is written in one call (``newinstances``). Otherwise new
instances are bulk-inserted first (``bulk``); the rest go command by command. If the bulk
path fails with anything but an outage (data the schema refuses, a limit it exceeds), the batch
is redone command by command, where a failing command is rolled back to its savepoint, parked
(``parking``) and answered ``failed`` while the rest commits. Feed rows are numbered in stream
order.
"""

from __future__ import annotations

import logging

import asyncpg
import orjson

from dicomcommon.adapters import db
from dicomcommon.adapters.events import DeleteRequested, InstanceStored, Outcome, OutcomeStatus
from indexer import apply, bulk, newinstances, parking, recounts, tagindexing

log = logging.getLogger(__name__)

Command = tuple[int, InstanceStored | DeleteRequested]  # (stream sequence, event)

_DROP_EMPTY_SERIES = """
DELETE FROM series WHERE series_instance_uid = ANY($1::text[]) AND number_of_instances = 0
"""
_DROP_EMPTY_STUDIES = """
DELETE FROM study WHERE study_instance_uid = ANY($1::text[]) AND number_of_instances = 0
"""
# The batch's feed rows, numbered from the feed counter, in one statement (one array per
# column; access groups as JSON text, since arrays of arrays must be rectangular).
# clock_timestamp(), taken under the feed counter's lock: timestamps follow sequence order
# across indexer replicas (now() would be each transaction's start).
_APPEND_FEED = """
WITH counter AS (
    UPDATE feed_counter SET last_sequence = last_sequence + cardinality($1::text[])
    RETURNING last_sequence - cardinality($1::text[]) AS before
)
INSERT INTO change_feed (sequence, timestamp, action, study_instance_uid, series_instance_uid,
    sop_instance_uid, version, metadata_text, access_groups, sop_class_uid)
SELECT counter.before + r.n, clock_timestamp(), r.action, r.study, r.series, r.sop, r.version,
    r.text, ARRAY(SELECT jsonb_array_elements_text(r.groups::jsonb)), r.sop_class
FROM counter, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
    $7::text[], $8::text[]) WITH ORDINALITY AS r(action, study, series, sop, version, text,
    groups, sop_class, n)
"""
_QUEUE_CLEANUP = "INSERT INTO blob_cleanup (blob_key) VALUES ($1) ON CONFLICT DO NOTHING"


async def apply_batch(
    pool: asyncpg.Pool, commands: list[Command], unpark: bool = False
) -> list[Outcome]:
    """Apply ``commands`` (in stream order) in one transaction; outcomes in the same order.
    ``unpark``: the commands come from ``parked_command``, and those applied leave it."""
    if not unpark:  # the common case first: only new instances, one round trip
        outcomes = await newinstances.apply_new(pool, commands)
        if outcomes is not None:
            return outcomes
    return await apply_per_command(pool, commands, unpark)


async def apply_per_command(
    pool: asyncpg.Pool, commands: list[Command], unpark: bool = False
) -> list[Outcome]:
    """``apply_batch`` without the one-call path: every case, new instances bulk-inserted."""
    try:
        return await _apply(pool, commands, fast=True, unpark=unpark)
    except Exception as exc:
        if parking.is_outage(exc):
            raise
        log.warning("batch refused on the fast path (%s); applying command by command", exc)
        return await _apply(pool, commands, fast=False, unpark=unpark)


async def _apply(
    pool: asyncpg.Pool, commands: list[Command], fast: bool, unpark: bool
) -> list[Outcome]:
    async with db.connection(pool) as conn, conn.transaction():
        work = apply.BatchWork()
        outcomes: dict[int, Outcome] = {}
        if fast:
            outcomes = await _plain_inserts(conn, commands, work)
        for i, (seq, event) in enumerate(commands):
            if i not in outcomes:
                outcomes[i] = await _apply_one(conn, seq, event, work)
        await tagindexing.index_stored(conn, work)
        await _finish(conn, work)
        if unpark:
            applied = [o.command_id for o in outcomes.values() if o.status != OutcomeStatus.FAILED]
            await conn.execute(parking.UNPARK, applied)
    return [outcomes[i] for i in range(len(commands))]


async def _plain_inserts(
    conn: asyncpg.Connection, commands: list[Command], work: apply.BatchWork
) -> dict[int, Outcome]:
    stores = [(i, s, e) for i, (s, e) in enumerate(commands) if isinstance(e, InstanceStored)]
    plain = await bulk.plain_inserts(conn, stores) if stores else []
    return await bulk.insert(conn, plain, work) if plain else {}


async def _apply_one(
    conn: asyncpg.Connection,
    seq: int,
    event: InstanceStored | DeleteRequested,
    work: apply.BatchWork,
) -> Outcome:
    try:
        async with conn.transaction():  # a savepoint: one bad command spoils only itself
            if isinstance(event, InstanceStored):
                return await apply.store(conn, seq, event, work)
            return await apply.delete(conn, seq, event, work)
    except Exception as exc:
        if parking.is_outage(exc):
            raise
        error = parking.describe(exc)
        log.warning("command %s failed and is parked: %s", event.command_id, error)
        await parking.park(conn, seq, event, error)
        return Outcome(
            command_id=event.command_id,
            status=OutcomeStatus.FAILED,
            sequence=seq,
            detail=f"not indexed ({error}); parked for an administrator to retry",
        )


async def _recount(conn: asyncpg.Connection, work: apply.BatchWork) -> list[asyncpg.Record]:
    """Recount the touched series and studies, dropping those left empty; returns each
    recounted study's access groups (read before an emptied study goes)."""
    if work.series and work.studies and not work.removed:  # nothing left: both in one go
        return list(await conn.fetch(recounts.BOTH, sorted(work.series), sorted(work.studies)))
    recounted: list[asyncpg.Record] = []
    if work.series:
        await conn.execute(recounts.SERIES, sorted(work.series))
        if work.removed:
            await conn.execute(_DROP_EMPTY_SERIES, sorted(work.series))
    if work.studies:
        recounted = list(await conn.fetch(recounts.STUDIES, sorted(work.studies)))
        if work.removed:
            await conn.execute(_DROP_EMPTY_STUDIES, sorted(work.studies))
    return recounted


async def _finish(conn: asyncpg.Connection, work: apply.BatchWork) -> None:
    """Counts, emptied series / studies, blob clean-ups, then the feed rows (last: the feed
    counter's row lock is held only for the end of the transaction). Each feed row keeps its
    study's access groups as they are now, read before an emptied study goes."""
    recounted = await _recount(conn, work)
    groups = {r["study_instance_uid"]: r["access_groups"] for r in recounted}
    if work.cleanup:
        await conn.executemany(_QUEUE_CLEANUP, [(k,) for k in work.cleanup])
    if work.feed:
        rows = sorted(work.feed, key=lambda row: row.version)
        await conn.execute(
            _APPEND_FEED,
            [r.action.value for r in rows],
            [r.study for r in rows],
            [r.series for r in rows],
            [r.sop for r in rows],
            [r.version for r in rows],
            [r.stored_text(work) for r in rows],
            [orjson.dumps(groups.get(r.study, [])).decode() for r in rows],
            [r.sop_class for r in rows],
        )
