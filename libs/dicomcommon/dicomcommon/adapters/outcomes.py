"""Waiting for the indexer: each STOW / DELETE process listens on its own outcome subject.

A command names that subject in ``reply_subject``; the indexer publishes the outcomes of a
batch after its transaction commits (one message per subject: a JSON array of ``Outcome``, or
a single ``Outcome``), and the waiting requests resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from pydantic import TypeAdapter

from dicomcommon.adapters.bus import Bus, subject
from dicomcommon.adapters.events import Outcome
from dicomcommon.settings import NatsSettings

log = logging.getLogger(__name__)
_OUTCOMES = TypeAdapter(list[Outcome])


class OutcomeWaiter:
    """Futures keyed by command id, resolved by messages on this process's outcome subject."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.subject = subject(bus.settings.outcome_subject_prefix, uuid.uuid4().hex)
        self._pending: dict[str, asyncio.Future[Outcome]] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def started(cls, nats: NatsSettings, client_name: str) -> OutcomeWaiter:
        """A listening waiter on a new, started bus (``waiter.bus``), as a writer (STOW, DELETE,
        DIMSE) opens them at start-up; close the waiter, then its bus."""
        bus = Bus(nats, client_name)
        bus.start()
        waiter = cls(bus)
        waiter.start()
        return waiter

    def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="outcome-subscribe")

    async def _subscribe(self) -> None:
        await self.bus.connected.wait()
        nc, _ = self.bus.require()
        await nc.subscribe(self.subject, cb=self._on_message)

    async def _on_message(self, msg: Any) -> None:
        try:
            if msg.data[:1] == b"[":
                outcomes = _OUTCOMES.validate_json(msg.data)
            else:
                outcomes = [Outcome.model_validate_json(msg.data)]
        except ValueError:
            log.warning("ignoring a malformed outcome message")
            return
        for outcome in outcomes:
            future = self._pending.pop(outcome.command_id, None)
            if future is not None and not future.done():
                future.set_result(outcome)

    def expect(self, command_id: str) -> asyncio.Future[Outcome]:
        """Register interest before publishing, so a fast outcome is never missed."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        return future

    def forget(self, command_id: str) -> None:
        future = self._pending.pop(command_id, None)
        if future is not None and not future.done():
            future.cancel()

    async def wait(
        self, futures: dict[str, asyncio.Future[Outcome]], seconds: float
    ) -> dict[str, Outcome]:
        """Outcomes that arrived within ``seconds``; the others are left unconfirmed."""
        if futures:
            await asyncio.wait(futures.values(), timeout=seconds)
        done: dict[str, Outcome] = {}
        for command_id, future in futures.items():
            if future.done() and not future.cancelled():
                done[command_id] = future.result()
            else:
                self.forget(command_id)
        return done

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for command_id in list(self._pending):
            self.forget(command_id)
