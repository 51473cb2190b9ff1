"""Which PostgreSQL errors are outages (503, retried) and which are not, against a real server."""

from __future__ import annotations

import asyncio
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


async def _backend_pid(reader: db.Reader) -> int:
    return int((await db.fetch(reader, "SELECT pg_backend_pid()"))[0][0])


async def test_a_lane_reads_on_one_connection_and_lends_the_pool_when_busy(stack: Stack) -> None:
    """One read at a time holds the lane's connection; a read while it is busy goes through
    the pool (another connection), and ``close`` hands the lane's back so the pool closes."""
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url))
    lane = db.Lane(pool)
    try:
        first, again = await _backend_pid(lane), await _backend_pid(lane)
        assert first == again
        slow = asyncio.ensure_future(db.fetch(lane, "SELECT pg_backend_pid(), pg_sleep(0.3)"))
        await asyncio.sleep(0.1)
        assert await _backend_pid(lane) != first  # the lane is busy: a pool connection
        assert (await slow)[0][0] == first
    finally:
        await lane.close()
        await asyncio.wait_for(pool.close(), 10)


async def test_a_lane_whose_connection_is_killed_heals_and_keeps_errors_as_they_are(
    stack: Stack,
) -> None:
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url))
    lane = db.Lane(pool)
    try:
        with pytest.raises(asyncpg.exceptions.DataError):
            await db.fetch(lane, "SELECT $1::int", "not a number")
        pid = await _backend_pid(lane)
        async with db.connection(pool) as other:
            await other.execute("SELECT pg_terminate_backend($1, 5000)", pid)  # (and its end)
        await asyncio.sleep(0.2)  # (the lane's connection reads its end meanwhile)
        assert await _backend_pid(lane) != pid
    finally:
        await lane.close()
        await asyncio.wait_for(pool.close(), 10)


async def test_a_lane_to_a_server_that_does_not_answer_is_an_outage() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_dead_port()}/postgres"
    pool = await db.create_pool(PostgresSettings(url=url))
    lane = db.Lane(pool)
    try:
        for _ in range(2):
            with pytest.raises(BackendUnavailable):
                await db.fetch(lane, "SELECT 1")
    finally:
        await lane.close()
        await pool.close()
