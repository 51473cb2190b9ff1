"""Audit events to JetStream without slowing the answers they describe.

A request's event is queued once its answer has been sent; a background task publishes what is
queued as one JetStream message (up to ``publish_batch`` events), awaits the ack, and puts the
events back when there is none (NATS down, a timeout) to try again after a pause. A retried
message may arrive twice; the indexer's insert is idempotent by event id.

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

import nats.errors
from prometheus_client import Counter, Gauge

from dicomcommon.adapters.bus import OUTAGE_ERRORS, Bus, subject
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import AuditSettings, NatsSettings
from dicomcommon.web.audit import AuditBatch, AuditEvent

log = logging.getLogger(__name__)

QUEUED = Gauge("dicomweb_audit_events_queued", "Audit events waiting for JetStream's ack")
PUBLISHED = Counter("dicomweb_audit_events_published_total", "Audit events acked by JetStream")
_RETRY_SECONDS = 1.0
_FLUSH_SECONDS = 5.0
_MESSAGE_BYTES = 512 << 10
_UNACKNOWLEDGED: tuple[type[BaseException], ...] = (
    BackendUnavailable,
    nats.errors.Error,
    *OUTAGE_ERRORS,
)


def _approximate_size(event: AuditEvent) -> int:
    """An upper estimate of the event's JSON: the UID lists are most of a large one."""
    uids = (*event.study_uids, *event.series_uids, *event.instance_uids)
    return 1024 + len(event.path) + len(event.query) + sum(len(u) + 3 for u in uids)


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
        """While events wait: let others join the first for a moment (``publish_linger_seconds``),
        take what is queued (up to a batch), publish it as one message, and on failure put it
        back and pause. Events also queue up while a message awaits its ack, so under load each
        message carries many."""
        linger = self.settings.publish_linger_seconds
        while True:
            await self._ready.wait()
            if linger and len(self._queue) < self.settings.publish_batch:
                await asyncio.sleep(linger)
            batch = self._take_batch()
            if not self._queue:
                self._ready.clear()
            self._in_flight = len(batch)
            try:
                published = await self._publish(batch)
            finally:
                self._in_flight = 0
            if published:
                QUEUED.dec(len(batch))
                PUBLISHED.inc(len(batch))
                if not self._queue:
                    self._idle.set()
            else:
                self._queue.extendleft(reversed(batch))
                self._ready.set()
                await asyncio.sleep(_RETRY_SECONDS)

    def _take_batch(self) -> list[AuditEvent]:
        """Queued events, up to ``publish_batch`` and about ``_MESSAGE_BYTES`` of JSON (NATS
        refuses messages over its max payload, 1 MiB by default)."""
        batch: list[AuditEvent] = []
        size = 0
        while self._queue and len(batch) < self.settings.publish_batch:
            size += _approximate_size(self._queue[0])
            if batch and size > _MESSAGE_BYTES:
                break
            batch.append(self._queue.popleft())
        return batch

    async def _publish(self, batch: list[AuditEvent]) -> bool:
        """One JetStream message (an ``AuditBatch``) and its ack; False when not acknowledged.
        The message id names the batch by its first event, so a retry is dropped as a
        duplicate when the first attempt did arrive (else the indexer drops repeats)."""
        payload = AuditBatch(events=batch).model_dump_json().encode()
        msg_id = f"{batch[0].event_id}+{len(batch)}"
        try:
            _, js = self.bus.require()
            await js.publish(self.subject, payload, headers={"Nats-Msg-Id": msg_id})
        except _UNACKNOWLEDGED as exc:
            log.warning("%d audit events not acknowledged (%s); retrying", len(batch), exc)
            return False
        return True
