"""The ingest loop: fetch a batch from the JetStream work queue, apply it, answer, ack.

Messages are acknowledged only after their transaction committed, so a crash anywhere before
that redelivers them; applying a command twice changes nothing (see ``apply``). Every indexer
replica pulls from the same durable consumer. A command's version is its stream sequence plus
the offset of the stream's incarnation (``epochs``), read again at every (re)subscription.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import asyncpg
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import Field, TypeAdapter, ValidationError

from dicomcommon import logs
from dicomcommon.bus import OUTAGE_ERRORS, Bus
from dicomcommon.errors import BackendUnavailable
from dicomcommon.events import DeleteRequested, InstanceStored, Outcome
from indexer import epochs
from indexer.batch import Command, apply_batch
from indexer.settings import Settings

log = logging.getLogger(__name__)
_EVENT: TypeAdapter[InstanceStored | DeleteRequested] = TypeAdapter(
    Annotated[InstanceStored | DeleteRequested, Field(discriminator="kind")]
)  # the ``kind`` field picks the model: no trying one and then the other
_RETRYABLE: tuple[type[BaseException], ...] = (
    BackendUnavailable,
    asyncpg.PostgresError,
    *OUTAGE_ERRORS,
)


class IngestConsumer:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, bus: Bus) -> None:
        self.settings = settings
        self.pool = pool
        self.bus = bus
        self.applied = 0
        self.version_offset = 0

    async def run(self) -> None:
        """Forever: subscribe (again after an outage), then fetch and apply batches."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ingest loop interrupted (%s); resuming", exc)
                await asyncio.sleep(1)

    async def _consume(self) -> None:
        await self.bus.connected.wait()
        _, js = self.bus.require()
        s = self.settings
        sub = await js.pull_subscribe(
            f"{s.nats.ingest_subject_prefix}.>",
            durable=s.consumer_name,
            stream=s.nats.ingest_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=s.ack_wait_seconds, max_ack_pending=-1
            ),
        )
        info = await js.stream_info(s.nats.ingest_stream)
        if info.created is None:
            raise BackendUnavailable("the ingest stream does not tell when it was created")
        self.version_offset = await epochs.version_offset(
            self.pool, info.created, info.state.last_seq
        )
        task = asyncio.current_task()
        while True:
            try:
                msgs = await sub.fetch(s.batch_size, timeout=s.fetch_wait_seconds)
            except (TimeoutError, nats.errors.TimeoutError):
                msgs = []  # nothing to do right now
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # nats-py's fetch can swallow a cancellation
            if msgs:
                await self._handle(msgs)

    async def _handle(self, msgs: list[Any]) -> None:
        commands: list[Command] = []
        kept = []
        for msg in msgs:
            try:
                version = self.version_offset + msg.metadata.sequence.stream
                commands.append((version, _EVENT.validate_json(msg.data)))
                kept.append(msg)
            except ValidationError:
                log.error("dropping a malformed command (stream seq %s)", msg.metadata.sequence)
                await msg.term()
        if not commands:
            return
        try:
            outcomes = await apply_batch(self.pool, commands)
        except _RETRYABLE as exc:
            log.warning("batch of %d not applied (%s); it will be redelivered", len(kept), exc)
            for msg in kept:
                await msg.nak(delay=1)
            await asyncio.sleep(0.5)
            return
        await self._answer(commands, outcomes)
        for msg in kept:
            await msg.ack()
        self.applied += len(commands)

    async def _answer(self, commands: list[Command], outcomes: list[Outcome]) -> None:
        """Tell each waiting STOW / DELETE request what happened (best effort: the commit
        already happened, a lost outcome only makes that request answer 'unconfirmed')."""
        nc, _ = self.bus.require()
        for (_, event), outcome in zip(commands, outcomes, strict=True):
            token = logs.request_id.set(event.request_id)
            log.info(
                "%s %s", event.kind, outcome.status.value,
                extra={"dicom_sequence": outcome.sequence, "dicom_command": event.command_id},
            )  # fmt: skip
            logs.request_id.reset(token)
            if event.reply_subject:
                try:
                    await nc.publish(event.reply_subject, outcome.model_dump_json().encode())
                except OUTAGE_ERRORS:
                    log.warning("could not publish the outcome of %s", event.command_id)
