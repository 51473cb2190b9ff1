"""The audit recorder's insert against real PostgreSQL: a redelivered event is recorded once."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.web.audit import Action, AuditEvent, AuditRecord, Outcome, clip
from indexer.auditlog import record

pytestmark = pytest.mark.integration


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        event_id=AuditEvent.new_id(), occurred_at=datetime.now(UTC), service="qido",
        action=Action.SEARCH, method="GET", path="/dicom-web/studies", query=f"i={i}",
        user_subject="s", user_name="n", client_address="127.0.0.1",
        study_uids=[f"1.2.{i}"], status=200, outcome=Outcome.SUCCESS, request_id=f"db-{i}",
    )  # fmt: skip


async def test_a_redelivered_event_is_recorded_once(pool: asyncpg.Pool) -> None:
    events = [_event(i) for i in range(3)]
    assert await record(pool, events[:2]) == {str(e.event_id) for e in events[:2]}
    assert await record(pool, events) == {str(events[2].event_id)}  # two of them again
    ids = [e.event_id for e in events]
    rows = await db.fetch(pool, "SELECT * FROM audit_event WHERE event_id = ANY($1)", ids)
    assert len(rows) == 3
    stored = next(r for r in rows if r["event_id"] == events[0].event_id)
    assert (stored["study_uids"], stored["series_uids"], stored["instance_count"]) == (
        ["1.2.0"],
        [],
        None,
    )


async def test_a_hostile_path_is_recorded_as_escapes(pool: asyncpg.Pool) -> None:
    """``%00`` and undecodable bytes reach the path and its UIDs; PostgreSQL refuses both raw
    (an event it cannot store once jammed the recorder), so ``clip`` writes them as escapes."""
    hostile = "/dicom-web/studies/1.2\x00\udcff\u00e9"
    record_ = AuditRecord()
    record_.touch(hostile.rsplit("/", 1)[1])
    event = _event(9).model_copy(
        update={"path": clip(hostile), "study_uids": list(record_.studies)}
    )
    with pytest.raises(asyncpg.PostgresError):  # what the escapes avoid
        await record(pool, [_event(10).model_copy(update={"path": hostile})])
    assert await record(pool, [event]) == {str(event.event_id)}
    row = await db.fetchrow(pool, "SELECT * FROM audit_event WHERE event_id = $1", event.event_id)
    assert row is not None
    assert row["path"] == "/dicom-web/studies/1.2\\x00\\udcff\u00e9"
    assert row["study_uids"] == ["1.2\\x00\\udcff\u00e9"]
