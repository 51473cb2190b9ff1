"""The audit recorder: audit events from JetStream into the append-only ``audit_event`` table,
and on to a syslog receiver as DICOM audit messages when one is configured.

Events are fetched in batches from a durable consumer shared by every indexer replica, inserted
in one statement and acknowledged only after the commit, so a crash redelivers them; the event
id is the primary key, so a redelivered event is inserted once. Only events inserted now go to
syslog: after a crash between commit and send, those few are in the table but not in syslog.
A syslog receiver that is down is logged and skipped: the table is the record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import OUTAGE_ERRORS, Bus
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import AuditSettings
from dicomcommon.web.audit import AuditBatch, AuditEvent
from indexer import dicomaudit, parking
from indexer.loops import StreamWorker
from indexer.settings import Settings
from indexer.syslog import SyslogSender, syslog_message

log = logging.getLogger(__name__)
_RETRYABLE: tuple[type[BaseException], ...] = (
    BackendUnavailable,
    asyncpg.PostgresError,
    *OUTAGE_ERRORS,
)
_UNSENT: tuple[type[BaseException], ...] = (OSError, TimeoutError, *_RETRYABLE)
_COLUMNS = (
    "event_id uuid, occurred_at timestamptz, service text, action text, method text, path text,"
    " query text, user_subject text, user_name text, client_address text, study_uids text[],"
    " series_uids text[], instance_uids text[], instance_count integer, status integer,"
    " outcome text, request_id text"
)
_NAMES = ", ".join(column.split()[0] for column in _COLUMNS.split(","))
INSERT = (
    f"INSERT INTO audit_event ({_NAMES}) SELECT {_NAMES} FROM jsonb_to_recordset($1::jsonb)"
    f" AS e({_COLUMNS}) ON CONFLICT (event_id) DO NOTHING RETURNING event_id::text"
)
_PATIENTS = (
    "SELECT study_instance_uid, patient_id FROM study"
    " WHERE study_instance_uid = ANY($1::text[]) AND patient_id IS NOT NULL"
)


async def record(pool: asyncpg.Pool, events: list[AuditEvent]) -> set[str]:
    """Insert ``events``; the ids of those not recorded before."""
    rows = await db.fetch(pool, INSERT, [e.model_dump(mode="json") for e in events])
    return {row["event_id"] for row in rows}


class AuditRecorder(StreamWorker):
    """Records the audit events of the audit stream, and forwards them to syslog when set."""

    name = "audit recorder"

    def __init__(self, settings: Settings, pool: asyncpg.Pool, bus: Bus) -> None:
        super().__init__(settings, pool, bus)
        audit: AuditSettings = settings.audit
        self.syslog = SyslogSender(audit.syslog_url) if audit.syslog_url else None
        self.recorded = 0

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        s = self.settings
        return await js.pull_subscribe(
            f"{s.nats.audit_subject_prefix}.>",
            durable=f"{s.consumer_name}-audit",
            stream=s.nats.audit_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=s.ack_wait_seconds, max_ack_pending=-1
            ),
        )

    async def _handle(self, msgs: list[Any]) -> None:
        events: list[AuditEvent] = []
        kept = []
        for msg in msgs:
            try:
                events += AuditBatch.model_validate_json(msg.data).events
                kept.append(msg)
            except ValidationError:
                log.error("dropping a malformed audit event: %r", msg.data[:2000])
                await msg.term()
        if not events:
            return
        try:
            new = await record(self.pool, events)
        except _RETRYABLE as exc:
            if not parking.is_outage(exc):
                await self._record_each(kept)
                return
            log.warning("%d audit events not recorded (%s); redelivered later", len(kept), exc)
            for msg in kept:
                await msg.nak(delay=1)
            await asyncio.sleep(0.5)
            return
        for msg in kept:
            await msg.ack()
        self.recorded += len(new)
        await self._forward([e for e in events if str(e.event_id) in new])

    async def _record_each(self, msgs: list[Any]) -> None:
        """After the database refused a batch for its content rather than an outage: each
        message alone, so one event it cannot store never holds back the others. One still
        refused is written to the log whole (the trail's last resort) and not redelivered."""
        for msg in msgs:
            events = AuditBatch.model_validate_json(msg.data).events
            try:
                new = await record(self.pool, events)
            except _RETRYABLE as exc:
                if parking.is_outage(exc):
                    await msg.nak(delay=1)
                    continue
                log.error("audit events refused by the database (%s): %r", exc, msg.data[:8000])
                await msg.term()
                continue
            await msg.ack()
            self.recorded += len(new)
            await self._forward([e for e in events if str(e.event_id) in new])

    async def _forward(self, events: list[AuditEvent]) -> None:
        """Each newly recorded event as a DICOM audit message to syslog (best effort)."""
        if self.syslog is None or not events:
            return
        source_id = self.settings.audit.source_id
        try:
            patients = await self._patients(events)
            for event in events:
                xml = dicomaudit.audit_message(event, source_id, patients)
                await self.syslog.send(syslog_message(xml, event.occurred_at, source_id))
        except _UNSENT as exc:
            log.warning("audit messages not sent to syslog: %s", exc)

    async def _patients(self, events: list[AuditEvent]) -> dict[str, str]:
        studies = list({s for e in events for s in e.study_uids[: dicomaudit.MAX_STUDIES]})
        rows = await db.fetch(self.pool, _PATIENTS, studies) if studies else []
        return {row["study_instance_uid"]: row["patient_id"] for row in rows}
