"""Wake-ups when the change feed may have grown: PostgreSQL ``LISTEN`` on the channel the
indexer's trigger notifies at commit, so the relay and Server-Sent Events answer within
milliseconds instead of polling hard. A timeout on every wait is the fallback while the
listening connection is down, so a lost notification only delays, never loses, an entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from dicomcommon.adapters.changefeed import NOTIFY_CHANNEL
from dicomcommon.settings import PostgresSettings

log = logging.getLogger(__name__)


class FeedWatch:
    """One listening connection per process, shared by every waiter.

    Take a ``mark()`` before reading the feed and ``wait(mark, timeout)`` after finding nothing:
    a commit between the two still wakes the waiter."""

    def __init__(self, settings: PostgresSettings, check_seconds: float = 5.0) -> None:
        self._dsn = settings.url.get_secret_value()
        self._check_seconds = check_seconds
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="feed-watch")

    def mark(self) -> asyncio.Event:
        return self._event

    async def wait(self, mark: asyncio.Event, seconds: float) -> bool:
        """Return on the first notification after ``mark`` was taken (True), or after
        ``seconds`` (False)."""
        try:
            async with asyncio.timeout(seconds):
                await mark.wait()
        except TimeoutError:
            return False
        return True

    def wake(self, *_: Any) -> None:
        """Wake every waiter (a notification arrived, or the connection changed)."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change-feed LISTEN interrupted (%s); retrying", exc)
            self.wake()  # waiters re-read the table rather than trust a silent connection
            await asyncio.sleep(1)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self.wake)
            self.wake()  # anything committed while we were not listening
            while not conn.is_closed():
                await asyncio.sleep(self._check_seconds)
                await conn.execute("SELECT 1", timeout=5)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
