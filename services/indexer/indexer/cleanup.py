"""Blob clean-up: removes blobs queued by deletes, replacements and duplicate uploads.

The queue lives in PostgreSQL (written in the index transaction), so a crash loses nothing:
rows stay until the blob is gone, and failures are retried later with a growing delay.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from dicomcommon.adapters import db
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.errors import BackendUnavailable

log = logging.getLogger(__name__)

_CLAIM = """
SELECT blob_key, attempts FROM blob_cleanup WHERE due_at <= now()
ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_DONE = "DELETE FROM blob_cleanup WHERE blob_key = ANY($1::text[])"
_RETRY = """
UPDATE blob_cleanup SET attempts = attempts + 1,
    due_at = now() + make_interval(secs => least(600, 2 ^ attempts))
WHERE blob_key = ANY($1::text[])
"""


async def clean_once(pool: asyncpg.Pool, blobs: BlobStore, limit: int) -> int:
    """Remove up to ``limit`` due blobs; returns how many were removed."""
    async with db.connection(pool) as conn, conn.transaction():
        rows = await conn.fetch(_CLAIM, limit)
        done, failed = [], []
        for row in rows:
            try:
                await blobs.delete(row["blob_key"])
                done.append(row["blob_key"])
            except BackendUnavailable as exc:
                log.warning("blob %s not removed yet: %s", row["blob_key"], exc)
                failed.append(row["blob_key"])
        if done:
            await conn.execute(_DONE, done)
        if failed:
            await conn.execute(_RETRY, failed)
    return len(done)


async def run(pool: asyncpg.Pool, blobs: BlobStore, interval: float, limit: int) -> None:
    while True:
        try:
            while await clean_once(pool, blobs, limit) == limit:
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("blob clean-up interrupted: %s", exc)
        await asyncio.sleep(interval)
