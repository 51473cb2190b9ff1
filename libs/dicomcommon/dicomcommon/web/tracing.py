"""OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is configured; else nothing.

``configure`` installs the process's tracer provider once, from ``settings.TracingSettings``
(the standard ``OTEL_*`` variables). Until then every function here is a no-op that returns at its
first line: an unconfigured service does no per-request tracing work at all.

The trace follows a request: W3C ``traceparent`` from the client or the gateway → the service's
server span (``instrument``) → a producer span per JetStream publish, whose context travels in
the message headers (``inject``) → the indexer's span per batch, linked to every message, with a
consumer span per message as the child of its producer (``consuming``). Query strings are
never recorded (QIDO's carry patient names), and span names use route templates, not paths.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import propagate, trace
from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomcommon.settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

log = logging.getLogger(__name__)
TRACER_NAME = "dicomweb"
# Probes and metrics are polled every few seconds; tracing them would drown the real requests.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
_QUERY_KEY = "dicomweb.query_string"
_UNTRACED: AbstractContextManager[Any] = nullcontext()  # reusable: nothing to set up per call
_enabled = False


def _sampler(settings: TracingSettings) -> Sampler:
    """The SDK's sampler of that name (``parentbased_*``: follow the caller's decision)."""
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        TraceIdRatioBased,
    )

    kind = settings.traces_sampler.removeprefix("parentbased_")
    root: Sampler
    if kind == "always_on":
        root = ALWAYS_ON
    elif kind == "always_off":
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(settings.traces_sampler_arg)
    return ParentBased(root) if settings.traces_sampler.startswith("parentbased_") else root


def configure(part: str, settings: TracingSettings | None) -> bool:
    """Install the tracer provider that batches spans to the OTLP endpoint; whether tracing
    is on. Spans still queued at exit are flushed by the provider's own exit handler."""
    global _enabled
    url = settings.traces_url if settings is not None else None
    if settings is None or url is None:
        return False
    # Imported here: a process that does not trace never loads the SDK's exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": settings.service(part)})
    provider = TracerProvider(resource=resource, sampler=_sampler(settings))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)
    _enabled = True
    log.info("tracing to %s as %s", url, settings.service(part))
    return True


def instrument(app: Starlette) -> ASGIApp:
    """``app`` with a server span per request (continuing the caller's ``traceparent``), when
    tracing is configured; else ``app`` itself."""
    if not _enabled:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    traced = OpenTelemetryMiddleware(
        _RestoreQuery(app),
        excluded_urls=EXCLUDED_URLS,
        default_span_details=lambda scope: (_span_name(app, scope), {}),
        exclude_spans=["receive", "send"],  # one span per body chunk would cost per MB
    )
    return _HideQuery(traced)


def _span_name(app: Starlette, scope: Scope) -> str:
    """``METHOD /route/{template}``: one name per route, never a study's UIDs."""
    method = scope.get("method", "HTTP")
    for route in app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return f"{method} {getattr(route, 'path', '')}".rstrip()
    return str(method)


class _HideQuery:
    """Shows the tracing middleware the request without its query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": b"", _QUERY_KEY: scope["query_string"]}
        await self.app(scope, receive, send)


class _RestoreQuery:
    """Gives the service the query string ``_HideQuery`` kept aside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _QUERY_KEY in scope:
            scope = {**scope, "query_string": scope[_QUERY_KEY]}
            del scope[_QUERY_KEY]
        await self.app(scope, receive, send)


def producing(subject: str) -> AbstractContextManager[Any]:
    """A producer span around one publish to ``subject`` (nothing when tracing is off)."""
    if not _enabled:
        return _UNTRACED
    tracer = trace.get_tracer(TRACER_NAME)
    return tracer.start_as_current_span(
        f"publish {subject}",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "nats", "messaging.destination.name": subject},
    )


def inject(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the current trace context (``traceparent``), for a NATS message."""
    if _enabled:
        propagate.inject(headers)
    return headers


class Message(Protocol):
    """What ``consuming`` reads of a received NATS message."""

    @property
    def subject(self) -> str: ...
    @property
    def headers(self) -> dict[str, str] | None: ...


def consuming(name: str, messages: Sequence[Message]) -> AbstractContextManager[Any]:
    """A span for handling a batch of ``messages`` (linked to each one's trace), and per
    message a consumer span continuing its producer's trace (nothing when tracing is off)."""
    if not _enabled:
        return _UNTRACED
    return _consuming(name, messages)


@contextmanager
def _consuming(name: str, messages: Sequence[Message]) -> Iterator[trace.Span]:
    tracer = trace.get_tracer(TRACER_NAME)
    parents = [propagate.extract(m.headers or {}) for m in messages]
    contexts = [trace.get_current_span(p).get_span_context() for p in parents]
    links = [trace.Link(c) for c in contexts if c.is_valid]
    attributes: dict[str, str | int] = {
        "messaging.system": "nats",
        "messaging.batch.message_count": len(messages),
    }
    with tracer.start_as_current_span(name, links=links, attributes=attributes) as batch:
        batch_link = [trace.Link(batch.get_span_context())]
        spans = [
            tracer.start_span(
                f"process {m.subject}",
                context=p,
                kind=trace.SpanKind.CONSUMER,
                links=batch_link,
                attributes={"messaging.system": "nats", "messaging.destination.name": m.subject},
            )
            for m, p, c in zip(messages, parents, contexts, strict=True)
            if c.is_valid
        ]
        try:
            yield batch
        finally:
            for span in spans:
                span.end()
