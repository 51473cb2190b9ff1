"""The relay's bookkeeping statements against real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from dicomcommon.adapters import db
from indexer import relay

pytestmark = pytest.mark.integration


async def test_the_relay_position_commits_without_waiting_for_the_wal(pool: asyncpg.Pool) -> None:
    """The statement that records it (and reads the next page) commits asynchronously, its
    transaction alone (rolled back here: the session stack's relay keeps its position)."""
    async with db.connection(pool) as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            last = await conn.fetchval(relay._POSITION)
            await conn.fetch(relay._ADVANCE_AND_PAGE, last + 1, 1)
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        finally:
            await tx.rollback()
        assert await conn.fetchval("SHOW synchronous_commit") == "on"


async def test_one_replica_relays_the_others_are_not_elected(pool: asyncpg.Pool) -> None:
    """The session stack's indexer relays: it holds the election lock on its own connection,
    so another replica's try fails (and would wait), and the lock is its session's alone."""
    async with db.connection(pool) as conn:
        assert await conn.fetchval(relay._ELECT, relay._LOCK_KEY) is False
        holders = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1",
            relay._LOCK_KEY,
        )
        assert holders == 1
