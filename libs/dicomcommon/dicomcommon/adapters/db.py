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
from asyncpg.pool import PoolConnectionProxy

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
    except OUTAGE_ERRORS as exc:
        outage = _unavailable(exc)
        if outage is None:
            raise
        raise outage from exc


class Lane:
    """One pooled connection kept aside for the short reads of a hot path, one at a time.

    asyncpg's pool spends about as much CPU on an acquire and a release (a proxy, futures, a
    shielded task, an inactivity timer) as a primary-key read spends on its round trip; a
    lane pays that once. A read that finds the lane busy goes through the pool, so
    concurrency is the pool's as before. The connection is the pool's (same settings, counted
    in ``pool_max``), taken on first use; a read that fails or is cancelled hands it back
    (the pool closes a broken one) and the next read takes another; so does every
    ``_RECYCLE_AFTER``-th read, so the pool's own recycling still applies. ``close`` before
    the pool's."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._held: PoolConnectionProxy | None = None
        self._reads = 0
        self._busy = False
        self._closed = False

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self._busy or self._closed:
            return await fetch(self.pool, query, *args)
        self._busy = True
        try:
            held = self._held
            if held is not None and not _open(held):
                self._give_back()
                held = None
            if held is None:
                async with asyncio.timeout(_ACQUIRE_TIMEOUT_SECONDS):
                    held = self._held = await self.pool.acquire()
                self._reads = 0
            return list(await held.fetch(query, *args))
        except BaseException as exc:
            self._give_back()
            outage = _unavailable(exc)
            if outage is not None:
                raise outage from exc
            raise
        finally:
            self._busy = False
            self._reads += 1
            if self._closed or self._reads >= _RECYCLE_AFTER:
                self._give_back()

    def _give_back(self) -> None:
        """Return the connection to the pool, which waits out a cancelled query or closes a
        broken connection (``release`` never raises for a connection it handed out)."""
        held, self._held = self._held, None
        if held is not None:
            release = self.pool.release(held, timeout=_ACQUIRE_TIMEOUT_SECONDS)
            task = asyncio.ensure_future(release)
            _RELEASING.add(task)
            task.add_done_callback(_RELEASING.discard)

    async def close(self) -> None:
        """No more reads on the lane; its connection goes back now, or after the read under
        way."""
        self._closed = True
        held = self._held
        if held is not None and not self._busy:
            self._held = None
            await self.pool.release(held, timeout=_ACQUIRE_TIMEOUT_SECONDS)


def _open(held: PoolConnectionProxy) -> bool:
    """Whether a connection the pool lent is still open: one that closed (PostgreSQL went
    away meanwhile) is taken back by the pool, and its proxy refuses every call."""
    try:
        return not held.is_closed()
    except asyncpg.exceptions.InterfaceError:
        return False


_RECYCLE_AFTER = 10_000
_RELEASING: set[asyncio.Future[None]] = set()  # (a task is only weakly referenced by the loop)
Reader = asyncpg.Pool | Lane
"""Where a read runs: the pool, or a lane of it."""


def _unavailable(exc: BaseException) -> BackendUnavailable | None:
    """An outage as ``BackendUnavailable`` (503), else None; a ``DataError`` (an argument the
    query cannot take, an ``InterfaceError`` too, which no retry cures) is no outage."""
    if isinstance(exc, OUTAGE_ERRORS) and not isinstance(exc, asyncpg.exceptions.DataError):
        return BackendUnavailable(f"PostgreSQL unavailable: {exc.__class__.__name__}")
    return None


async def fetch(pool: Reader, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run ``query``; ``connection`` turns an outage during it into ``BackendUnavailable``."""
    if isinstance(pool, Lane):
        return await pool.fetch(query, *args)
    async with connection(pool) as conn:
        return list(await conn.fetch(query, *args))


async def fetchrow(pool: Reader, query: str, *args: Any) -> asyncpg.Record | None:
    rows = await fetch(pool, query, *args)
    return rows[0] if rows else None
