"""The ingest loop: fetch a batch from the JetStream work queue, apply it, answer, ack.

Messages are acknowledged only after their transaction committed, so a crash anywhere before
that redelivers them; applying a command twice changes nothing (see ``apply``). Every indexer
replica pulls from the same durable consumer.

Faults: during an outage the batch is held (kept in progress) and retried until it applies, so
an outage costs no deliveries. Any other failure of a batch is retried command by command, and
a command that still fails is parked (``parking``): it never holds back the others. A command
on its last delivery (the consumer's ``max_deliver``: a replica died applying it each time) is
parked before it is tried, so even a command that kills the indexer ends where an operator
sees it, never silently dropped by JetStream. A command's version is its stream sequence plus
the offset of the stream's incarnation (``epochs``), read again at every (re)subscription.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import asyncpg
import nats.errors
import nats.js.errors
import orjson
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import Field, TypeAdapter, ValidationError

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import OUTAGE_ERRORS, Bus
from dicomcommon.adapters.events import (
    DeleteRequested,
    InstancesStored,
    InstanceStored,
    Outcome,
    OutcomeStatus,
)
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.errors import BackendUnavailable
from dicomcommon.web import logs, tracing
from indexer import epochs, offloaded, parking
from indexer.batch import Command, apply_batch
from indexer.loops import StreamWorker
from indexer.settings import Settings

log = logging.getLogger(__name__)
_EVENT: TypeAdapter[InstanceStored | InstancesStored | DeleteRequested] = TypeAdapter(
    Annotated[InstanceStored | InstancesStored | DeleteRequested, Field(discriminator="kind")]
)  # the ``kind`` field picks the model: no trying one and then the other
MALFORMED = (ValidationError, orjson.JSONDecodeError)  # a command that is dropped, not parked
_OUTCOMES: TypeAdapter[list[Outcome]] = TypeAdapter(list[Outcome])
_HOLD_SECONDS = 5.0  # the longest wait between two tries of a batch held by an outage


class IngestConsumer(StreamWorker):
    """Applies the ingest commands in batches, each acknowledged once committed."""

    name = "ingest loop"

    def __init__(self, settings: Settings, pool: asyncpg.Pool, bus: Bus, blobs: BlobStore) -> None:
        super().__init__(settings, pool, bus)
        self.blobs = blobs
        self.applied = 0
        self.version_offset = 0

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        s = self.settings
        try:  # creates the durable consumer, or updates one made before (its delivery limit)
            await js.add_consumer(s.nats.ingest_stream, self._consumer_config())
        except nats.js.errors.BadRequestError as exc:
            log.warning("ingest consumer settings not updated: %s", exc)
        sub = await js.pull_subscribe(
            f"{s.nats.ingest_subject_prefix}.>",
            durable=s.consumer_name,
            stream=s.nats.ingest_stream,
            config=self._consumer_config(),
        )
        info = await js.stream_info(s.nats.ingest_stream)
        if info.created is None:
            raise BackendUnavailable("the ingest stream does not tell when it was created")
        self.version_offset = await epochs.version_offset(
            self.pool, info.created, info.state.last_seq
        )
        return sub

    def _consumer_config(self) -> ConsumerConfig:
        s = self.settings
        return ConsumerConfig(
            durable_name=s.consumer_name,
            filter_subject=f"{s.nats.ingest_subject_prefix}.>",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait_seconds,
            max_ack_pending=-1,
            max_deliver=s.max_deliveries,
        )

    async def _handle(self, msgs: list[Any]) -> None:
        with tracing.consuming("apply ingest batch", msgs):
            await self._apply(msgs)

    async def _apply(self, msgs: list[Any]) -> None:
        """Apply the fetched messages in transactions of about ``batch_size`` commands (a
        message may hold a request's group of stores), each acknowledged once committed."""
        commands: list[Command] = []
        kept: list[Any] = []
        unpark = False
        for msg in msgs:
            try:
                version = self.version_offset + msg.metadata.sequence.stream
                received = [(version, event) for event in _events(msg.data)]
            except MALFORMED:
                log.error("dropping a malformed command (stream seq %s)", msg.metadata.sequence)
                await msg.term()
                continue
            if msg.metadata.num_delivered >= self.settings.max_deliveries:
                for command in received:
                    await self._park_last_delivery(msg, command)
                unpark = True
            commands += received
            kept.append(msg)
            if len(commands) >= self.settings.batch_size:
                await self._apply_and_ack(kept, commands, unpark)
                commands, kept, unpark = [], [], False
        if commands:
            await self._apply_and_ack(kept, commands, unpark)

    async def _apply_and_ack(self, msgs: list[Any], commands: list[Command], unpark: bool) -> None:
        outcomes = await self._apply_held(msgs, commands, unpark)
        parking.PARKED.inc(sum(o.status is OutcomeStatus.FAILED for o in outcomes))
        await self._answer(commands, outcomes)
        for msg in msgs:
            await msg.ack()
        self.applied += len(commands)

    async def _apply_held(
        self, msgs: list[Any], commands: list[Command], unpark: bool
    ) -> list[Outcome]:
        """Apply the batch, holding it through outages; any other failure goes one by one."""
        wait = 0.5
        while True:
            try:
                loaded = await offloaded.load_all(self.blobs, commands)
                return await apply_batch(self.pool, loaded, unpark)
            except Exception as exc:
                if not parking.is_outage(exc):
                    log.warning("batch of %d failed (%s); one command at a time", len(msgs), exc)
                    return [await self._apply_alone(command, unpark) for command in commands]
                log.warning("batch of %d waits for an outage to end (%s)", len(msgs), exc)
            await asyncio.sleep(wait)
            wait = min(wait * 2, _HOLD_SECONDS)
            for msg in msgs:
                await msg.in_progress()  # not redelivered meanwhile: deliveries are not spent

    async def _apply_alone(self, command: Command, unpark: bool) -> Outcome:
        """One command in its own transaction; parked in another one if it fails."""
        seq, event = command
        try:
            loaded = await offloaded.load(self.blobs, command)
            [outcome] = await apply_batch(self.pool, [loaded], unpark)
            return outcome
        except Exception as exc:
            if parking.is_outage(exc):
                raise
            error = parking.describe(exc)
        async with db.connection(self.pool) as conn:
            await parking.park(conn, seq, event, error)
        return Outcome(
            command_id=event.command_id, status=OutcomeStatus.FAILED, sequence=seq,
            detail=f"not indexed ({error}); parked for an administrator to retry",
        )  # fmt: skip

    async def _park_last_delivery(self, msg: Any, command: Command) -> None:
        """Park before trying: if applying it kills this replica once more, it stays parked
        (a successful apply below takes it out again, in the same transaction). JetStream
        will not deliver it again, so an outage is waited out here, the message kept."""
        seq, event = command
        error = f"delivered {msg.metadata.num_delivered} times without being applied"
        log.error("command %s: %s; parked before its last try", event.command_id, error)
        while True:
            try:
                async with db.connection(self.pool) as conn:
                    await parking.park(conn, seq, event, error)
                return
            except Exception as exc:
                if not parking.is_outage(exc):
                    raise
            await asyncio.sleep(_HOLD_SECONDS)
            await msg.in_progress()

    async def _answer(self, commands: list[Command], outcomes: list[Outcome]) -> None:
        """Tell each waiting STOW / DELETE request what happened, one message per reply
        subject (best effort: the commit already happened, a lost outcome only makes that
        request answer 'unconfirmed')."""
        nc, _ = self.bus.require()
        replies: dict[str, list[Outcome]] = {}
        for (_, event), outcome in zip(commands, outcomes, strict=True):
            token = logs.request_id.set(event.request_id)
            log.info(
                "%s %s", event.kind, outcome.status.value,
                extra={"dicom_sequence": outcome.sequence, "dicom_command": event.command_id},
            )  # fmt: skip
            logs.request_id.reset(token)
            if event.reply_subject:
                replies.setdefault(event.reply_subject, []).append(outcome)
        for reply_subject, answered in replies.items():
            try:
                await nc.publish(reply_subject, _OUTCOMES.dump_json(answered))
            except OUTAGE_ERRORS:
                log.warning("could not publish %d outcomes", len(answered))


def _events(data: bytes) -> list[InstanceStored | DeleteRequested]:
    """The commands of one message: a group of stores (``InstancesStored``) is its stores, in
    order, each applied (and, failing, parked) as its own command under the group's version."""
    # orjson parses the metadata (plain JSON values, ``Any`` to pydantic) in half the time
    # pydantic's own JSON reader takes; the model is validated as before.
    event = _EVENT.validate_python(orjson.loads(data))
    return list(event.instances) if isinstance(event, InstancesStored) else [event]
