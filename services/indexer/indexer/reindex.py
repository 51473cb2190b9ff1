"""Reindex operations: fill the values of newly added extended query tags from the stored
metadata, in the background, a batch of instances per transaction in SOP Instance UID order.

Each batch writes its values and the operation's progress (``cursor``, ``done``) in one
transaction, so an indexer that dies mid-reindex resumes after the last committed batch; a
replica works an operation only while it holds the operation's row lock, so several replicas
never reindex the same range twice. The scan starts once every transaction that was running
when the tags were added has ended: a store that committed later ran its own indexing after
the tags existed (``tagindexing.index_stored``), and one that committed earlier is seen by
the scan. When the scan is done the tags become ``Ready``; any value that could not be
indexed leaves a tag's ``queryStatus`` ``Disabled`` until an administrator enables it, as
Microsoft's server does.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from dicomcommon.adapters import db
from indexer import parking, tagindexing

log = logging.getLogger(__name__)

_NEXT = """
SELECT operation_id, tag_keys, cursor, total,
    pg_snapshot_xmin(pg_current_snapshot()) >= pg_snapshot_xmax(started_after) AS clear
FROM operation WHERE status IN ('NotStarted', 'Running')
ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""
_BATCH = """
SELECT count(*) AS found, max(sop_instance_uid) AS last FROM (
    SELECT sop_instance_uid FROM instance WHERE sop_instance_uid > $1
    ORDER BY sop_instance_uid LIMIT $2
) batch
"""
_PROGRESS = """
UPDATE operation SET status = 'Running', cursor = $2, done = done + $3,
    total = coalesce(total, $4), updated_at = now()
WHERE operation_id = $1
"""
_READY = """
UPDATE extended_query_tag t SET status = 'Ready', query_status = CASE
    WHEN EXISTS (SELECT 1 FROM extended_tag_error e WHERE e.tag_key = t.tag_key)
    THEN 'Disabled' ELSE t.query_status END
WHERE t.tag_key = ANY($1::int[]) AND t.status = 'Adding'
"""
_COMPLETED = """
UPDATE operation SET status = 'Completed', total = coalesce(total, done), updated_at = now()
WHERE operation_id = $1
"""
_FAILED = """
UPDATE operation SET status = 'Failed', error = $2, updated_at = now() WHERE operation_id = $1
"""


async def run(pool: asyncpg.Pool, batch_size: int, pause_seconds: float) -> None:
    """Work the pending operations for ever: a batch, then ``pause_seconds`` (which leaves the
    database to ingest); half a second's rest when nothing is pending."""
    while True:
        worked = await step(pool, batch_size)
        await asyncio.sleep(pause_seconds if worked else 0.5)


async def step(pool: asyncpg.Pool, batch_size: int) -> bool:
    """One batch of the oldest pending operation; whether there was one to work."""
    operation_id = None
    try:
        async with db.connection(pool) as conn, conn.transaction():
            # A batch lost with its commit in a crash is lost with its cursor, and redone: it
            # need not wait for its WAL to reach the disk (the wait was most of a batch's time).
            await conn.execute("SET LOCAL synchronous_commit = off")
            operation = await conn.fetchrow(_NEXT)
            if operation is None or not operation["clear"]:
                return False
            operation_id = operation["operation_id"]
            await _batch(conn, operation, batch_size)
        return True
    except Exception as exc:
        if operation_id is None or parking.is_outage(exc):
            raise
        log.error("reindex %s failed: %s", operation_id, exc)
        await db.fetch(pool, _FAILED, operation_id, parking.describe(exc))
        return True


async def _batch(conn: asyncpg.Connection, operation: asyncpg.Record, batch_size: int) -> None:
    operation_id, keys = operation["operation_id"], list(operation["tag_keys"])
    after = operation["cursor"] or ""
    total = operation["total"]
    if total is None:
        total = await conn.fetchval("SELECT count(*) FROM instance")
    batch = await conn.fetchrow(_BATCH, after, batch_size)
    assert batch is not None  # an aggregate: one row
    if not batch["found"]:
        await conn.execute(_READY, keys)
        await conn.execute(_COMPLETED, operation_id)
        log.info("reindex %s completed", operation_id)
        return
    await tagindexing.index_range(conn, keys, after, batch["last"])
    await conn.execute(_PROGRESS, operation_id, batch["last"], batch["found"], total)
