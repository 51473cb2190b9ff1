"""The thin hook that turns each audited HTTP request into one ``AuditEvent``.

It sits outside authentication (so refused callers are recorded too) and inside the request-id
middleware: it classifies the request by the routes table, leaves an ``AuditRecord`` in the
scope for handlers to fill, lets the request run, and queues the event once the answer has been
sent (a stream the handler marks ``at_start``, such as Server-Sent Events: once it opens).
The caller is whoever the authentication middleware put in the scope; the address is the peer,
or the client a trusted proxy named (``dicomcommon.web.proxies`` has rewritten it by then).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomcommon.principal import principal_of
from dicomcommon.web import logs
from dicomcommon.web.audit import (
    SCOPE_KEY,
    Action,
    AuditEvent,
    AuditRecord,
    Classifier,
    clip,
)
from dicomcommon.web.auditpublisher import AuditPublisher

REFUSED = Counter(
    "dicomweb_audit_refused_requests_total",
    "Requests refused because audit events cannot be queued",
)
_PATH_UIDS = ("study", "series", "instance")


class AuditHook:
    """ASGI middleware: one event per request on patient data, whatever its outcome."""

    def __init__(
        self, app: ASGIApp, service: str, publisher: AuditPublisher, refusal: ASGIApp
    ) -> None:
        self.app = app
        self.service = service
        self.publisher = publisher
        self.refusal = refusal  # the 503 answered while events cannot be queued
        self.classifier = Classifier(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        action = self.classifier.action(scope["method"], scope["path"]) if _is_http(scope) else None
        if action is None:
            await self.app(scope, receive, send)
            return
        if self.publisher.full:
            REFUSED.inc()
            await self.refusal(scope, receive, send)
            return
        record = AuditRecord()
        scope[SCOPE_KEY] = record
        started = datetime.now(UTC)
        status, submitted = 500, False

        def submit() -> None:
            nonlocal submitted
            if not submitted:
                submitted = True
                self.publisher.submit(self._event(scope, action, record, status, started))

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if record.at_start:
                    submit()
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            submit()

    def _event(
        self, scope: Scope, action: Action, record: AuditRecord, status: int, started: datetime
    ) -> AuditEvent:
        params = scope.get("path_params", {})
        record.touch(*(str(params[k]) if k in params else None for k in _PATH_UIDS))
        principal = principal_of(scope)
        client = scope.get("client")
        return AuditEvent(
            event_id=AuditEvent.new_id(),
            occurred_at=started,
            service=self.service,
            action=action,
            method=scope["method"],
            path=clip(scope["path"]),
            query=clip(scope.get("query_string", b"").decode("latin-1")),
            user_subject=clip(principal.subject),
            user_name=clip(principal.name),
            client_address=client[0] if client else "",
            request_id=logs.request_id.get() or "",
            **record.event_fields(status),
        )


def _is_http(scope: Scope) -> bool:
    return bool(scope["type"] == "http")
