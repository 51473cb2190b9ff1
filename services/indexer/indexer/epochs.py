"""Versions that survive an ingest stream reset: each incarnation of the stream (its created
time) gets an offset added to its sequences, recorded in ``ingest_epoch`` so every replica
uses the same one.

The first incarnation this database sees keeps offset 0 (existing rows came from it), unless the
database already holds versions past the stream's last sequence: then the stream was reset
before, and the offset starts above them too. A later incarnation always starts above them.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from dicomcommon.adapters import db

log = logging.getLogger(__name__)

_HIGHEST = """
SELECT greatest(
    (SELECT coalesce(max(version), 0) FROM instance),
    (SELECT coalesce(max(version), 0) FROM tombstone),
    (SELECT coalesce(max(version), 0) FROM scope_tombstone),
    (SELECT coalesce(max(version), 0) FROM change_feed))
"""
_FOUND = "SELECT version_offset FROM ingest_epoch WHERE stream_created = $1"
_ANY = "SELECT exists(SELECT 1 FROM ingest_epoch)"
_RECORD = "INSERT INTO ingest_epoch (stream_created, version_offset) VALUES ($1, $2)"


async def version_offset(pool: asyncpg.Pool, stream_created: datetime, last_sequence: int) -> int:
    """The offset of the stream incarnation created at ``stream_created``, recorded on first
    sight (under a table lock, so replicas starting together agree)."""
    async with db.connection(pool) as conn, conn.transaction():
        await conn.execute("LOCK TABLE ingest_epoch IN EXCLUSIVE MODE")
        found: int | None = await conn.fetchval(_FOUND, stream_created)
        if found is not None:
            return found
        first = not await conn.fetchval(_ANY)
        highest: int = await conn.fetchval(_HIGHEST)
        offset = 0 if first and highest <= last_sequence else highest
        await conn.execute(_RECORD, stream_created, offset)
    if offset:
        log.warning("the ingest stream was recreated; versions continue after %d", offset)
    return offset
