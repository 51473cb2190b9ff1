"""Private databases on the session stack's PostgreSQL.

A test that must see the index exactly as its own writes left it uses one: the stack's
running indexer (its blob clean-up, its relay) works only on the stack's own database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from dicomcommon.adapters import db
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack


@asynccontextmanager
async def new_database(stack: Stack, prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database named ``prefix_<random>``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(stack.postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield stack.postgres_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def new_database_pool(stack: Stack, prefix: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new, empty database (see ``new_database``), closed before the drop."""
    async with new_database(stack, prefix) as url:
        pool = await db.create_pool(PostgresSettings(url=url))
        try:
            yield pool
        finally:
            await pool.close()
