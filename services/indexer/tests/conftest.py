"""Fixtures the indexer's database tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack
from indexer.migrate import migrate
from tests.databases import new_database_pool


@pytest.fixture(scope="module")
async def pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session stack's PostgreSQL, its schema migrated."""
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url))
    async with db.connection(pool) as conn:
        await migrate(conn)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def private_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a migrated database of its own, which the stack's indexer never touches:
    what a test's batch queued for blob clean-up is still there when the test looks."""
    async with new_database_pool(stack, "indexer") as pool:
        async with db.connection(pool) as conn:
            await migrate(conn)
        yield pool
