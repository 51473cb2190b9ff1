"""Calls from concurrent associations, gathered into groups.

While one group is on its way (forecast reads to PostgreSQL, store commands to JetStream),
the calls made meanwhile queue and leave together as the next group: one round trip for all
of them. One drain task runs at a time, started by the first call that finds none running;
every queued call is answered, with its result or with the error that stopped its group.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Gathering(Generic[Item, Result]):
    """A queue of calls and the drain that answers them; subclasses say how (``_drain``)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _submit(self, item: Item) -> Result:
        """Queue ``item`` and wait for its answer."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain_queue(), name=self._name)
        return await done

    async def _drain_queue(self) -> None:
        try:
            await self._drain()
        finally:
            self._task = None

    async def _drain(self) -> None:
        """Answer every queued call, in groups."""
        raise NotImplementedError


def fail(waiting: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    """Fail each call still waiting (one whose caller gave up is left alone)."""
    for _, done in waiting:
        if not done.done():
            done.set_exception(exc)
