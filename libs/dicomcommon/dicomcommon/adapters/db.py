"""PostgreSQL access shared by the services: the pool, and outage errors mapped to 503.

The schema and the statements that read it are ``dicomcommon.schema``; the indexer applies
its migrations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import PostgresSettings

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.PostgresConnectionError,
    TimeoutError,
)

_ACQUIRE_TIMEOUT_SECONDS = 10  # a pool exhausted this long is an outage (503)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb travels as bytes parsed by orjson: the fastest path for metadata."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def create_pool(
    settings: PostgresSettings,
    session_state: bool = True,
    statement_timeout: float | None = None,
) -> asyncpg.Pool:
    """A pool that opens lazily: a service starts even while PostgreSQL is still down.

    A reader that never leaves session state on a connection (no ``SET``, ``LISTEN``, advisory
    lock or cursor) passes ``session_state=False``: a released connection then skips asyncpg's
    reset query, one round trip to PostgreSQL per request. Open transactions are still rolled
    back on release either way.

    ``statement_timeout`` (seconds) is PostgreSQL's own: the server cancels any statement of
    the pool's connections that runs longer, so no query outlives it even if its client
    is gone.
    """
    server_settings = {}
    if statement_timeout is not None:
        server_settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
    return await asyncpg.create_pool(
        dsn=settings.url.get_secret_value(),
        min_size=0,
        max_size=settings.pool_max,
        command_timeout=settings.command_timeout,
        init=_init_connection,
        reset=None if session_state else _keep_session,
        server_settings=server_settings,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: the connection holds no session state."""


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Acquire a connection; an outage, while acquiring or while using it, becomes
    ``BackendUnavailable`` (503). A ``DataError`` is an ``InterfaceError`` too, but an argument
    the query cannot take, which no retry cures: it stays what it is."""
    try:
        # ``asyncio.timeout`` rather than ``acquire(timeout=...)``: asyncpg wraps a timed acquire
        # in ``wait_for``, a new task per request; the deadline reschedules a timer instead.
        async with asyncio.timeout(_ACQUIRE_TIMEOUT_SECONDS):
            held = await pool.acquire()
        try:
            yield held  # type: ignore[misc]  # the pool's proxy behaves as a Connection
        finally:
            await pool.release(held, timeout=_ACQUIRE_TIMEOUT_SECONDS)
    except asyncpg.exceptions.DataError:
        raise
    except OUTAGE_ERRORS as exc:
        raise BackendUnavailable(f"PostgreSQL unavailable: {exc.__class__.__name__}") from exc


async def fetch(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run ``query``; ``connection`` turns an outage during it into ``BackendUnavailable``."""
    async with connection(pool) as conn:
        return list(await conn.fetch(query, *args))


async def fetchrow(pool: asyncpg.Pool, query: str, *args: Any) -> asyncpg.Record | None:
    rows = await fetch(pool, query, *args)
    return rows[0] if rows else None
