"""Calls from concurrent callers (associations, requests), gathered into groups.

While one group is on its way (forecast reads to PostgreSQL, store commands to JetStream),
the calls made meanwhile queue and leave together as the next group: one round trip for all
of them. One drain task runs at a time, started by the first call that finds none running,
so a call alone waits for nobody; every queued call is answered, with its result or with the
error that stopped its group.

``GroupPublisher`` is the store commands' case (group commit), shared by C-STORE and STOW-RS.
Each association stores one instance at a time, and many clients send STOW requests of one
instance: publishing each alone costs one publish, one stream ack and one outcome message per
instance. Queued here, the batches of all callers written while a group is on its way leave
together as the next group (``Ingest.fits`` bounds it); a caller's own batch is never split.

Every queued batch is answered: with its commands once the group is durable, or with the
error that stopped its group. A batch taken off the queue is held in its group from that
moment, and whatever interrupts the group (an outage while it forms, a cancellation from
within the publish) fails that group, while the drain goes on with the next; only the
service's own stop ends the drain, failing what is left. A store left waiting would hold its
C-STORE response or its HTTP answer until the peer gives up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Generic, TypeVar

from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.ingest import Ingest, PreparedStore
from dicomcommon.errors import BackendUnavailable

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")
Published = tuple[str, "asyncio.Future[Outcome]"]  # the command id and its outcome to come
Queued = tuple[list[PreparedStore], "asyncio.Future[list[Published]]"]


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


class GroupPublisher(Gathering[list[PreparedStore], list[Published]]):
    """Publishes queued batches of stores in groups, one group at a time (on the service's
    loop)."""

    def __init__(self, ingest: Ingest, name: str) -> None:
        super().__init__(f"{name}-publish")
        self.ingest = ingest

    async def publish(self, batch: list[PreparedStore]) -> list[Published]:
        """Queue ``batch`` (stores that fit in one message, ``Ingest.fits``); once its group is
        durable in the stream, each store's command id and the future of its outcome
        (``Ingest.publish``'s errors are raised here)."""
        return await self._submit(batch)

    async def _drain(self) -> None:
        while self._queue:
            group = [self._queue.pop(0)]  # held from here: answered whatever follows
            try:
                self._fill(group)
                await self._publish(group)
            except asyncio.CancelledError:
                if _cancelling():  # the service stops: nothing left may wait forever
                    fail([*group, *self._queue], BackendUnavailable("the service stops"))
                    self._queue.clear()
                    raise
                self._stopped(group, "a cancellation from below")  # not ours: go on
            except Exception as exc:
                self._stopped(group, repr(exc))

    def _fill(self, group: list[Queued]) -> None:
        """Move queued batches into ``group`` while each of their stores fits in one message."""
        stores = [s for batch, _ in group for s in batch]
        while self._queue and self._fits(stores, self._queue[0][0]):
            batch, done = self._queue.pop(0)
            group.append((batch, done))
            stores.extend(batch)

    def _fits(self, stores: list[PreparedStore], batch: list[PreparedStore]) -> bool:
        """Whether the whole ``batch`` can join ``stores``: ``Ingest.fits`` of its last store
        after the others (a group's size and count only grow as stores join)."""
        return not batch or self.ingest.fits([*stores, *batch[:-1]], batch[-1])

    async def _publish(self, group: list[Queued]) -> None:
        stores = [s for batch, _ in group for s in batch]
        try:
            published = await self.ingest.publish(stores)
        except Exception as exc:  # every store of the group fails alike
            fail(group, exc)
            return
        if len(published) != len(stores):  # never expected: fail the group rather than guess
            fail(group, BackendUnavailable("the ingest publish answered another group"))
            return
        start = 0
        for batch, done in group:
            if not done.done():  # its caller gave up waiting: the instances are stored anyway
                done.set_result(published[start : start + len(batch)])
            start += len(batch)

    def _stopped(self, group: list[Queued], why: str) -> None:
        """A group the drain could not publish for a reason of its own (not the publish's
        failure, which ``_publish`` answers): its stores fail, and the drain goes on."""
        count = sum(len(batch) for batch, _ in group)
        log.error("the %s lost a group of %d stores (%s); they fail", self._name, count, why)
        fail(group, BackendUnavailable(f"the store publisher failed: {why}"))


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
