"""Fixtures the schema tests share: databases of the session stack's PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomstack.stack import Stack
from indexer.migrate import migrate
from tests.databases import new_database_pool


@pytest.fixture
async def fresh_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new, empty database of the stack's PostgreSQL."""
    async with new_database_pool(stack, "schema") as pool:
        yield pool


@pytest.fixture(scope="module")
async def migrated_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database holding every shipped migration, and nothing else."""
    async with new_database_pool(stack, "schema") as pool:
        async with db.connection(pool) as conn:
            await migrate(conn)
        yield pool
