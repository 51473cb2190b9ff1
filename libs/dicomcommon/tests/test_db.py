"""Which PostgreSQL errors are outages (503, retried) and which are not, against a real server."""

from __future__ import annotations

import socket

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack

pytestmark = pytest.mark.integration


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_argument_the_query_cannot_take_is_a_bug_not_an_outage(stack: Stack) -> None:
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url))
    try:
        with pytest.raises(asyncpg.exceptions.DataError):
            await db.fetch(pool, "SELECT $1::int", "not a number")
        assert [tuple(r) for r in await db.fetch(pool, "SELECT $1::int", 7)] == [(7,)]
    finally:
        await pool.close()


async def test_a_server_that_does_not_answer_is_an_outage() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_dead_port()}/postgres"
    pool = await db.create_pool(PostgresSettings(url=url))
    try:
        with pytest.raises(BackendUnavailable):
            await db.fetch(pool, "SELECT 1")
    finally:
        await pool.close()


async def test_a_reader_pool_still_rolls_back_what_a_request_left_open(stack: Stack) -> None:
    """``session_state=False`` skips the reset query, not the rollback of a transaction."""
    settings = PostgresSettings(url=stack.postgres_url, pool_max=1)
    pool = await db.create_pool(settings, session_state=False)
    try:
        async with db.connection(pool) as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TEMP TABLE left_open (n int)")
        async with db.connection(pool) as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_open')") is None
    finally:
        await pool.close()


async def test_an_exhausted_pool_is_an_outage_and_heals(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that finds no free connection within the acquire deadline is answered as an
    outage; the abandoned wait takes no connection with it, so the pool serves again once the
    holder lets go."""
    monkeypatch.setattr(db, "_ACQUIRE_TIMEOUT_SECONDS", 0.2)
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url, pool_max=1))
    try:
        async with db.connection(pool):
            with pytest.raises(BackendUnavailable, match="TimeoutError"):
                await db.fetch(pool, "SELECT 1")
        assert [tuple(r) for r in await db.fetch(pool, "SELECT 2")] == [(2,)]
    finally:
        await pool.close()
