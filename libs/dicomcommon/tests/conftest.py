"""Fixtures the schema tests share: databases of the session stack's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack
from indexer.migrate import migrate


@asynccontextmanager
async def _new_database(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new, empty database, dropped afterwards."""
    name = f"schema_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = stack.postgres_url.rsplit("/", 1)[0] + f"/{name}"
        pool = await db.create_pool(PostgresSettings(url=url))
        try:
            yield pool
        finally:
            await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def fresh_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new, empty database of the stack's PostgreSQL."""
    async with _new_database(stack) as pool:
        yield pool


@pytest.fixture(scope="module")
async def migrated_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database holding every shipped migration, and nothing else."""
    async with _new_database(stack) as pool:
        async with db.connection(pool) as conn:
            await migrate(conn)
        yield pool
