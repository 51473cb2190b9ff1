"""Audit events to JetStream without slowing the answers they describe.

A request's event is queued once its answer has been sent; a background task publishes queued
events in batches, awaiting JetStream's acks concurrently, and puts back those not acknowledged
(NATS down, a timeout) to try again after a pause. ``Nats-Msg-Id`` is the event id, so a retry
of an event that did arrive is dropped by the stream, and the indexer's insert is idempotent.

Memory is bounded: at most ``buffer_events`` events wait. While NATS is away the queue fills;
once full, ``full`` is true and the web hook refuses requests on patient data with 503 (fail
closed: nothing is served that cannot be recorded) until NATS is back and the queue drains.
Events still queued when a process is killed are lost (they cover answers of the last moments);
a graceful stop flushes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from prometheus_client import Counter, Gauge

from dicomcommon.audit import AuditEvent
from dicomcommon.bus import Bus, subject
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import AuditSettings, NatsSettings

log = logging.getLogger(__name__)

QUEUED = Gauge("dicomweb_audit_events_queued", "Audit events waiting for JetStream's ack")
PUBLISHED = Counter("dicomweb_audit_events_published_total", "Audit events acked by JetStream")
_RETRY_SECONDS = 1.0
_FLUSH_SECONDS = 5.0


class AuditPublisher:
    """One per process: ``submit`` never waits; ``start`` / ``close`` run the sender."""

    def __init__(self, nats: NatsSettings, settings: AuditSettings, service: str) -> None:
        self.bus = Bus(nats, f"{service}-audit")
        self.settings = settings
        self.subject = subject(nats.audit_subject_prefix, service)
        self._queue: deque[AuditEvent] = deque()
        self._in_flight = 0
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()  # nothing queued, nothing in flight
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def full(self) -> bool:
        return len(self._queue) + self._in_flight >= self.settings.buffer_events

    def submit(self, event: AuditEvent) -> None:
        """Queue an event; past the bound (a race with ``full``) the oldest one is kept and
        this one is logged instead, which is all that is left to do."""
        if self.full:
            log.error("audit queue full: event %s not recorded", event.model_dump_json())
            return
        self._queue.append(event)
        QUEUED.inc()
        self._idle.clear()
        self._ready.set()

    def start(self) -> None:
        self.bus.start()
        self._task = asyncio.create_task(self._run(), name="audit-publisher")

    async def close(self) -> None:
        """Flush for a few seconds, then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), _FLUSH_SECONDS)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue:
            log.error("stopping with %d audit events not published", len(self._queue))
        await self.bus.close()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._batch))]
            if not self._queue:
                self._ready.clear()
            self._in_flight = len(batch)
            try:
                failed = await self._publish(batch)
            finally:
                self._in_flight = 0
            QUEUED.dec(len(batch) - len(failed))
            PUBLISHED.inc(len(batch) - len(failed))
            if failed:
                self._queue.extendleft(reversed(failed))
                self._ready.set()
                await asyncio.sleep(_RETRY_SECONDS)
            elif not self._queue:
                self._idle.set()

    @property
    def _batch(self) -> int:
        return self.settings.publish_batch

    async def _publish(self, batch: list[AuditEvent]) -> list[AuditEvent]:
        """Publish concurrently; the events JetStream did not acknowledge."""
        try:
            _, js = self.bus.require()
        except BackendUnavailable:
            return batch
        results = await asyncio.gather(
            *(
                js.publish(
                    self.subject,
                    event.model_dump_json().encode(),
                    headers={"Nats-Msg-Id": str(event.event_id)},
                )
                for event in batch
            ),
            return_exceptions=True,
        )
        failed = [e for e, r in zip(batch, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            log.warning("%d audit events not acknowledged yet; retrying", len(failed))
        return failed
