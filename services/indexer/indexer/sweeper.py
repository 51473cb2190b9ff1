"""Orphan sweeper: blobs STOW wrote whose store was never acknowledged (the process died, or
NATS refused the command) are found by age and handed to the blob clean-up queue.

A blob is an orphan when it is older than a setting (its key carries its write time), no
instance row or parked command (``parking``) uses it, and no ingest command older than it is
still waiting in JetStream (so a store held up by an outage is never mistaken for one). One
replica sweeps at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import Bus
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.adapters.storage.keys import written_at

log = logging.getLogger(__name__)

_LOCK_KEY = 0x44495357  # one sweeping replica at a time
MIN_AGE_SECONDS = 60.0  # a blob this young may still be on its way to JetStream
_BATCH = 1000
_UNUSED = """
SELECT k FROM unnest($1::text[]) AS k
WHERE NOT EXISTS (SELECT 1 FROM instance i WHERE i.blob_key = k)
  AND NOT EXISTS (SELECT 1 FROM blob_cleanup c WHERE c.blob_key = k)
  AND NOT EXISTS (SELECT 1 FROM parked_command p WHERE p.blob_key = k)
  AND NOT EXISTS (SELECT 1 FROM parked_command p WHERE p.metadata_key = k)
"""
_QUEUE = "INSERT INTO blob_cleanup (blob_key) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"


async def oldest_pending_command(bus: Bus, stream: str) -> float | None:
    """Write time of the oldest ingest command not yet applied (None: nothing waits)."""
    _, js = bus.require()
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return None
    first = await js.get_msg(stream, seq=info.state.first_seq)
    return first.time.timestamp() if first.time else 0.0


async def sweep_once(pool: asyncpg.Pool, blobs: BlobStore, bus: Bus, older_than: float) -> int:
    """Queue every orphan blob older than ``older_than`` seconds; returns how many."""
    cutoff = time.time() - max(older_than, MIN_AGE_SECONDS)
    waiting = await oldest_pending_command(bus, bus.settings.ingest_stream)
    if waiting is not None:
        cutoff = min(cutoff, waiting - 60)  # blobs of waiting commands are not orphans
    async with db.connection(pool) as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
            return 0
        try:
            queued, candidates = 0, []
            async for key in blobs.list("studies/"):
                written = written_at(key)
                if written is not None and written < cutoff:
                    candidates.append(key)
                if len(candidates) >= _BATCH:
                    queued += await _queue_unused(conn, candidates)
                    candidates = []
            return queued + await _queue_unused(conn, candidates)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _queue_unused(conn: asyncpg.Connection, keys: list[str]) -> int:
    if not keys:
        return 0
    unused = [r[0] for r in await conn.fetch(_UNUSED, keys)]
    if unused:
        await conn.execute(_QUEUE, unused)
        log.info("queued %d orphan blobs for removal", len(unused))
    return len(unused)


async def run(
    pool: asyncpg.Pool, blobs: BlobStore, bus: Bus, interval: float, older_than: float
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await bus.connected.wait()
            await sweep_once(pool, blobs, bus, older_than)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # outages included: the next round tries again
            log.warning("orphan sweep skipped: %s", exc)
