"""The audit record and its hook: every patient-data route has an action, each audited
request queues exactly one event with the caller, address, UIDs, count and outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dicomcommon.principal import LOCAL, Permission
from dicomcommon.settings import AuditSettings, HttpSettings, NatsSettings
from dicomcommon.web import audit
from dicomcommon.web.audit import Action, AuditBatch, AuditEvent, Classifier
from dicomcommon.web.auditpublisher import AuditPublisher
from dicomcommon.web.routes import ROUTES
from dicomcommon.web.webapp import create_service_app

STUDY, SERIES, SOP = "1.2.3", "1.2.3.4", "1.2.3.4.5"


def test_every_route_on_patient_data_has_an_audit_action() -> None:
    for route in ROUTES:
        if route.permission is Permission.PUBLIC:
            assert route.name not in audit.ACTIONS, route.name
        else:
            assert route.name in audit.ACTIONS, f"route {route.name} has no audit action"


@pytest.mark.parametrize(
    ("service", "method", "path", "action"),
    [
        ("qido", "GET", "/dicom-web/studies", Action.SEARCH),
        ("qido", "GET", f"/dicom-web/studies/{STUDY}/series", Action.SEARCH),
        ("qido", "GET", "/dicom-web/changefeed/stream", Action.FEED_READ),
        ("qido", "GET", "/dicom-web/audit", Action.AUDIT_READ),
        ("wado", "GET", f"/dicom-web/studies/{STUDY}/series/{SERIES}/metadata", Action.RETRIEVE),
        ("wado", "HEAD", f"/dicom-web/studies/{STUDY}", Action.RETRIEVE),
        ("wado", "GET", "/wado", Action.RETRIEVE),
        ("stow", "POST", f"/dicom-web/studies/{STUDY}", Action.STORE),
        ("delow", "DELETE", f"/dicom-web/studies/{STUDY}/series/{SERIES}", Action.DELETE),
        ("qido", "OPTIONS", "/dicom-web/studies", None),  # a pre-flight touches nothing
        ("qido", "GET", "/healthz", None),
        ("indexer", "GET", "/healthz", None),
    ],
)
def test_requests_are_classified_by_the_routes_table(
    service: str, method: str, path: str, action: Action | None
) -> None:
    assert Classifier(service).action(method, path) == action


def test_a_record_keeps_uids_once_and_bounded() -> None:
    record = audit.AuditRecord()
    record.touch_all((STUDY, SERIES, f"{SOP}.{i}") for i in range(audit.MAX_UIDS + 5))
    record.add_count(audit.MAX_UIDS + 5)
    assert list(record.studies) == [STUDY]
    assert len(record.instances) == audit.MAX_UIDS
    assert record.count == audit.MAX_UIDS + 5


async def _retrieve(request: Request) -> Response:
    audit.record_of(request.scope).touch_all([(STUDY, SERIES, SOP)])
    audit.record_of(request.scope).add_count(1)
    return Response(b"dicom", media_type="application/dicom")


def _app(buffer: int = 10) -> tuple[httpx.AsyncClient, AuditPublisher]:
    routes = [
        Route("/dicom-web/studies/{study}/series/{series}/instances/{instance}", _retrieve),
        Route("/dicom-web/studies/{study}/metadata", _retrieve),
    ]
    settings = AuditSettings(buffer_events=buffer)
    app = create_service_app("wado", routes, http=HttpSettings(), audit=(settings, NatsSettings()))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
    client = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
    return client, app.state.audit_publisher


def _queued(publisher: AuditPublisher) -> list[AuditEvent]:
    return list(publisher._queue)


async def test_one_request_queues_one_event_with_its_fields() -> None:
    client, publisher = _app()
    path = f"/dicom-web/studies/{STUDY}/series/{SERIES}/instances/{SOP}"
    answer = await client.get(path, params={"a": "b"}, headers={"X-Request-ID": "rid-1"})
    assert answer.status_code == 200
    [event] = _queued(publisher)
    assert (event.action, event.method, event.path, event.query) == ("retrieve", "GET", path, "a=b")
    assert (event.user_subject, event.user_name) == (LOCAL.subject, LOCAL.name)
    assert event.client_address == "192.0.2.7"
    assert (event.study_uids, event.series_uids, event.instance_uids) == ([STUDY], [SERIES], [SOP])
    assert event.instance_count == 1
    assert (event.status, event.outcome, event.request_id) == (200, "success", "rid-1")
    assert event.service == "wado"


async def test_failures_and_unrouted_requests() -> None:
    client, publisher = _app()
    missing = await client.get(f"/dicom-web/studies/{STUDY}/nothing-here")
    assert missing.status_code == 404
    await client.get("/healthz")
    [event] = _queued(publisher)  # the 404 on a patient-data path; not the probe
    assert (event.status, event.outcome, event.study_uids) == (404, "failure", [])


async def test_requests_are_refused_while_events_cannot_be_queued() -> None:
    """Fail closed: with the queue full (NATS away for long), nothing is served unrecorded."""
    client, publisher = _app(buffer=2)
    path = f"/dicom-web/studies/{STUDY}/metadata"
    assert [(await client.get(path)).status_code for _ in range(2)] == [200, 200]
    refused = await client.get(path)
    assert refused.status_code == 503
    assert refused.headers["retry-after"]
    assert len(_queued(publisher)) == 2


def test_a_message_carries_many_events_but_stays_under_the_payload_limit() -> None:
    """Events queued while a message awaits its ack go out together, bounded in bytes."""
    publisher = AuditPublisher(NatsSettings(), AuditSettings(publish_batch=256), "qido")
    uids = [f"2.25.{i:055d}" for i in range(audit.MAX_UIDS)]
    big = {"study_uids": uids, "series_uids": uids, "instance_uids": uids}
    events = [_event(**big) for _ in range(3)] + [_event() for _ in range(300)]
    for event in events:
        publisher.submit(event)
    sizes = []
    while publisher._queue:
        batch = publisher._take_batch()
        assert len(AuditBatch(events=batch).model_dump_json()) < 1 << 20
        sizes.append(len(batch))
    assert sizes == [2, 256, 45]  # two large ones fill a message; then publish_batch at most


def _event(**fields: Any) -> AuditEvent:
    base: dict[str, Any] = {
        "event_id": AuditEvent.new_id(), "occurred_at": "2026-01-01T00:00:00Z", "service": "qido",
        "action": "search", "method": "GET", "path": "/dicom-web/studies", "user_subject": "s",
        "user_name": "n", "client_address": "127.0.0.1", "status": 200, "outcome": "success",
        "request_id": "r",
    }  # fmt: skip
    return AuditEvent.model_validate(base | fields)
