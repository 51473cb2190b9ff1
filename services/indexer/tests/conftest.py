"""Fixtures the indexer's database tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack
from indexer.migrate import migrate


@pytest.fixture(scope="module")
async def pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session stack's PostgreSQL, its schema migrated."""
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url))
    async with db.connection(pool) as conn:
        await migrate(conn)
    yield pool
    await pool.close()
