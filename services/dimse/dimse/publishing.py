"""One ingest command for the stores of every association at once (group commit).

Each association stores one instance at a time, so batching by request, as STOW does, would
send one command per instance. Instead the stores of all associations queue here: while one
group is on its way to JetStream, the stores written meanwhile wait and leave together as the
next group (``Ingest.fits`` bounds it). One association alone waits for nobody; under load
there is one publish, one stream ack and one indexer transaction per group.

Every queued store is answered: with its command once the group is durable, or with the
error that stopped its group. A store taken off the queue is held in its group from that
moment, and whatever interrupts the group (an outage while it forms, a cancellation from
within the publish) fails that group, while the drain goes on with the next; only the
service's own stop ends the drain, failing what is left. A store left waiting would hold
its association's C-STORE response until the peer gives up and aborts.
"""

from __future__ import annotations

import asyncio
import logging

from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.ingest import Ingest, PreparedStore
from dicomcommon.errors import BackendUnavailable
from dimse.gathering import Gathering, fail

log = logging.getLogger(__name__)
Published = tuple[str, "asyncio.Future[Outcome]"]  # the command id and its outcome to come
Queued = tuple[PreparedStore, "asyncio.Future[Published]"]


class GroupPublisher(Gathering[PreparedStore, Published]):
    """Publishes queued stores in groups, one group at a time (on the service's loop)."""

    def __init__(self, ingest: Ingest) -> None:
        super().__init__("dimse-publish")
        self.ingest = ingest

    async def publish(self, store: PreparedStore) -> Published:
        """Queue ``store``; once its group is durable in the stream, its command id and the
        future of its outcome (``Ingest.publish``'s errors are raised here)."""
        return await self._submit(store)

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
                _stopped(group, "a cancellation from below")  # not ours: go on
            except Exception as exc:
                _stopped(group, repr(exc))

    def _fill(self, group: list[Queued]) -> None:
        """Move queued stores into ``group`` while they fit in one message."""
        while self._queue and self.ingest.fits([s for s, _ in group], self._queue[0][0]):
            group.append(self._queue.pop(0))

    async def _publish(self, group: list[Queued]) -> None:
        try:
            published = await self.ingest.publish([store for store, _ in group])
        except Exception as exc:  # every store of the group fails alike
            fail(group, exc)
            return
        if len(published) != len(group):  # never expected: fail the group rather than guess
            fail(group, BackendUnavailable("the ingest publish answered another group"))
            return
        for (_, done), result in zip(group, published, strict=True):
            if not done.done():  # its C-STORE gave up waiting: the instance is stored anyway
                done.set_result(result)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _stopped(group: list[Queued], why: str) -> None:
    """A group the drain could not publish for a reason of its own (not the publish's
    failure, which ``_publish`` answers): its stores fail, and the drain goes on."""
    log.error("the DIMSE store publisher lost a group of %d (%s); they fail", len(group), why)
    fail(group, BackendUnavailable(f"the store publisher failed: {why}"))
