"""The indexer's long-running loops share one rule: an error other than cancellation is logged
and the loop starts again a second later (after an outage, its next step reconnects). The
JetStream consumers among them fetch the same way (``fetch_forever``)."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import nats.errors
from nats.js import JetStreamContext

from dicomcommon.adapters.bus import Bus
from indexer.settings import Settings

log = logging.getLogger(__name__)


async def resume_forever(name: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` again and again; an exception interrupts it for a second, never for good."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s interrupted (%s); resuming", name, exc)
            await asyncio.sleep(1)


class StreamWorker(ABC):
    """A JetStream consumer of the indexer: forever (``resume_forever``), wait for NATS,
    subscribe (``_subscribe``), then fetch batches (``fetch_forever``) and ``_handle`` them."""

    name = "stream worker"

    def __init__(self, settings: Settings, pool: asyncpg.Pool, bus: Bus) -> None:
        self.settings = settings
        self.pool = pool
        self.bus = bus

    async def run(self) -> None:
        """Forever: subscribe (again after an outage), then fetch and handle batches."""
        await resume_forever(self.name, self._consume)

    async def _consume(self) -> None:
        await self.bus.connected.wait()
        _, js = self.bus.require()
        sub = await self._subscribe(js)
        s = self.settings
        await fetch_forever(sub, s.batch_size, s.fetch_wait_seconds, self._handle)

    @abstractmethod
    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription: ...

    @abstractmethod
    async def _handle(self, msgs: list[Any]) -> None: ...


async def fetch_forever(
    sub: JetStreamContext.PullSubscription,
    batch: int,
    wait_seconds: float,
    handle: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """Fetch up to ``batch`` messages, waiting at most ``wait_seconds`` for the first, and hand
    each non-empty fetch to ``handle``; until cancelled (or an error ends the step)."""
    task = asyncio.current_task()
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=wait_seconds)
        except (TimeoutError, nats.errors.TimeoutError):
            msgs = []  # nothing to do right now
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # nats-py's fetch can swallow a cancellation
        if msgs:
            await handle(msgs)
