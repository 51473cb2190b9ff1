"""NATS JetStream connection and stream definitions shared by STOW, DELETE and the indexer.

The connection is opened in the background and re-opened forever, so a service starts and
answers 503 while NATS is down, and recovers by itself when it is back. An attempt that connects
but cannot set up the streams (JetStream off, an update refused) closes its client before the
next one, and attempts back off to ``_RETRY_MAX_SECONDS``: at most one connection at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import NatsSettings
from dicomcommon.web import tracing

log = logging.getLogger(__name__)
MAX_MESSAGE_SIZE = 8 << 20  # the streams' limit; the server's max_payload is usually lower
_HEADER_ROOM = 4 << 10  # headers (Nats-Msg-Id) and protocol framing
# How long JetStream remembers a Nats-Msg-Id, to drop a publisher's retry: a retry comes within
# seconds. JetStream holds every id of the window in memory, so a longer one only costs memory
# (at the push relay's rate, 600 s held ~30,000 feed ids: NATS grew for ten minutes).
DUPLICATE_WINDOW_SECONDS = 120.0


class MessageTooLarge(Exception):
    """A message larger than the NATS server accepts (its ``max_payload``)."""


_RETRY_FIRST_SECONDS, _RETRY_MAX_SECONDS = 0.5, 10.0

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
    OSError,
)


def _stream(settings: NatsSettings, name: str, subject_prefix: str, **policy: Any) -> StreamConfig:
    """A file-backed stream of every subject under ``subject_prefix``, replicated as the
    settings say; ``policy``: how messages leave it and how large it grows."""
    return StreamConfig(
        name=name,
        subjects=[f"{subject_prefix}.>"],
        storage=StorageType.FILE,
        num_replicas=settings.stream_replicas,
        **policy,
    )


def _work_queue(
    settings: NatsSettings, name: str, subject_prefix: str, max_bytes: int, max_msg_size: int
) -> StreamConfig:
    """A durable work queue deduplicated by ``Nats-Msg-Id``: a message leaves once its consumer
    has acknowledged it; past ``max_bytes`` waiting, new messages are refused (nothing
    acknowledged is dropped)."""
    return _stream(
        settings,
        name,
        subject_prefix,
        retention=RetentionPolicy.WORK_QUEUE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_msg_size=max_msg_size,
        max_bytes=max_bytes,
        discard=DiscardPolicy.NEW,
    )


def ingest_stream(settings: NatsSettings) -> StreamConfig:
    """Commands for the indexer: a command leaves once the indexer has committed it; past
    ``ingest_max_bytes`` of waiting commands new ones are refused (STOW answers 503)."""
    return _work_queue(
        settings,
        settings.ingest_stream,
        settings.ingest_subject_prefix,
        settings.ingest_max_bytes,
        MAX_MESSAGE_SIZE,
    )


def feed_stream(settings: NatsSettings) -> StreamConfig:
    """Change-feed entries for subscribers to replay from a sequence: the newest, within
    ``feed_max_age_seconds`` and ``feed_max_bytes`` (oldest out first); ``/changefeed`` reads
    PostgreSQL and keeps everything."""
    max_age = settings.feed_max_age_seconds
    return _stream(
        settings,
        settings.feed_stream,
        settings.feed_subject_prefix,
        retention=RetentionPolicy.LIMITS,
        max_age=max_age,
        max_bytes=settings.feed_max_bytes,
        discard=DiscardPolicy.OLD,
        duplicate_window=min(DUPLICATE_WINDOW_SECONDS, max_age),  # NATS: at most the max age
        max_msg_size=MAX_MESSAGE_SIZE,
    )


def audit_stream(settings: NatsSettings) -> StreamConfig:
    """Audit events on their way to the indexer, which keeps them in PostgreSQL: gone once
    recorded, deduplicated by event id, so a publisher's retry is harmless; past
    ``audit_max_bytes`` new events are refused and wait in their publisher's buffer."""
    return _work_queue(
        settings,
        settings.audit_stream,
        settings.audit_subject_prefix,
        settings.audit_max_bytes,
        1 << 20,
    )


class Bus:
    """One NATS connection per process, with its JetStream context and the streams ensured."""

    def __init__(self, settings: NatsSettings, name: str) -> None:
        self.settings = settings
        self.name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="nats-connect")

    async def _connect(self) -> None:
        delay = _RETRY_FIRST_SECONDS
        while True:
            try:
                nc = await nats.connect(
                    self.settings.url,
                    name=self.name,
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                )
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying in %.1fs", exc, delay)
            else:
                if await self._set_up(nc):
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)

    async def _set_up(self, nc: Client) -> bool:
        """Ensure the streams on a fresh connection; on failure close it (no leak) and say so."""
        try:
            js = nc.jetstream(timeout=10)
            await self._ensure_streams(js)
        except Exception as exc:
            log.warning("NATS JetStream streams not ready (%s); retrying", exc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=5)
            return False
        self.nc, self.js = nc, js
        self.connected.set()
        return True

    async def _ensure_streams(self, js: JetStreamContext) -> None:
        streams = (ingest_stream, feed_stream, audit_stream)
        for config in (stream(self.settings) for stream in streams):
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.update_stream(config)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    def require(self) -> tuple[Client, JetStreamContext]:
        """The live connection, or ``BackendUnavailable`` while there is none."""
        if self.nc is None or self.js is None or not self.nc.is_connected:
            raise BackendUnavailable("NATS JetStream unavailable")
        return self.nc, self.js

    def max_message_bytes(self) -> int:
        """The largest payload a published message may have: the server's ``max_payload``
        (1 MiB unless configured) and the streams' ``max_msg_size``, less room for headers."""
        nc, _ = self.require()
        return min(nc.max_payload, MAX_MESSAGE_SIZE) - _HEADER_ROOM

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> int:
        """Publish to JetStream and wait for the stream's ack; returns the stream sequence.
        A payload the server refuses as too large raises ``MessageTooLarge``."""
        _, js = self.require()
        try:
            with tracing.producing(subject):  # the trace continues in the message's headers
                headers = tracing.inject({"Nats-Msg-Id": msg_id})
                ack = await js.publish(subject, payload, headers=headers)
        except nats.errors.MaxPayloadError as exc:
            raise MessageTooLarge(f"a {len(payload)} B message is more than NATS takes") from exc
        except OUTAGE_ERRORS as exc:
            raise BackendUnavailable(f"NATS JetStream unavailable: {type(exc).__name__}") from exc
        return int(ack.seq)

    async def check(self) -> None:
        nc, _ = self.require()
        try:
            await nc.flush(timeout=2)
        except OUTAGE_ERRORS as exc:
            raise BackendUnavailable("NATS unavailable") from exc

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.nc is not None:
            with contextlib.suppress(Exception):  # not drain(): it can hang on pull subscriptions
                await asyncio.wait_for(self.nc.close(), timeout=5)


def subject(prefix: str, *parts: str) -> str:
    return ".".join((prefix, *parts))
