"""The relay's bookkeeping statements against real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from dicomcommon.adapters import db
from indexer import relay

pytestmark = pytest.mark.integration


async def test_the_relay_position_commits_without_waiting_for_the_wal(pool: asyncpg.Pool) -> None:
    """Its transaction alone commits asynchronously (rolled back here: the session stack's
    relay keeps its position)."""
    async with db.connection(pool) as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            last = await conn.fetchval("SELECT last_sequence FROM feed_relay FOR UPDATE")
            await conn.execute(relay._ADVANCE, last + 1)
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        finally:
            await tx.rollback()
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
