"""One ingest command for the stores of every association at once (group commit).

Each association stores one instance at a time, so batching by request, as STOW does, would
send one command per instance. Instead the stores of all associations queue here: while one
group is on its way to JetStream, the stores written meanwhile wait and leave together as the
next group (``Ingest.fits`` bounds it). One association alone waits for nobody; under load
there is one publish, one stream ack and one indexer transaction per group.
"""

from __future__ import annotations

import asyncio
import logging

from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.ingest import Ingest, PreparedStore

log = logging.getLogger(__name__)
Published = tuple[str, "asyncio.Future[Outcome]"]  # the command id and its outcome to come


class GroupPublisher:
    """Publishes queued stores in groups, one group at a time (on the service's loop)."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self._queue: list[tuple[PreparedStore, asyncio.Future[Published]]] = []
        self._task: asyncio.Task[None] | None = None

    async def publish(self, store: PreparedStore) -> Published:
        """Queue ``store``; once its group is durable in the stream, its command id and the
        future of its outcome (``Ingest.publish``'s errors are raised here)."""
        done: asyncio.Future[Published] = asyncio.get_running_loop().create_future()
        self._queue.append((store, done))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="dimse-publish")
        return await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._publish(self._next_group())
        finally:
            self._task = None

    def _next_group(self) -> list[tuple[PreparedStore, asyncio.Future[Published]]]:
        group: list[tuple[PreparedStore, asyncio.Future[Published]]] = []
        while self._queue and (
            not group or self.ingest.fits([s for s, _ in group], self._queue[0][0])
        ):
            group.append(self._queue.pop(0))
        return group

    async def _publish(self, group: list[tuple[PreparedStore, asyncio.Future[Published]]]) -> None:
        try:
            published = await self.ingest.publish([store for store, _ in group])
        except Exception as exc:  # every store of the group fails alike
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), result in zip(group, published, strict=True):
            if not done.done():  # its C-STORE gave up waiting: the instance is stored anyway
                done.set_result(result)
