"""What every HTTP service shares: request ids, metrics, health probes, CORS, the Host
allow-list, trusted proxies, authentication, the audit hook and the error handler.

``create_service_app`` wraps a service's own routes (``create_web_service`` with the
settings a DICOMweb service shares); ``DicomwebError`` subclasses become their
status code with a JSON body (and ``Retry-After`` for 503). Any other exception is a bug: it is
logged and answered as a JSON 500 (``internal error``). An error raised while a streamed body
is already on its way cannot change the status sent; it ends the connection instead.
From the outside in: forwarded headers (``proxies``), the Host check, CORS (so a browser can
read every answer, errors included), the request id, then the audit hook around the routes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomcommon.errors import BackendUnavailable, DicomwebError, PayloadTooLarge
from dicomcommon.settings import (
    AuditSettings,
    AuthSettings,
    CorsSettings,
    HttpSettings,
    NatsSettings,
)
from dicomcommon.web import logs, proxies
from dicomcommon.web.audithook import AuditHook
from dicomcommon.web.auditpublisher import AuditPublisher
from dicomcommon.web.auth import Authentication
from dicomcommon.web.routes import Route as TableRoute
from dicomcommon.web.routes import routes_for, unversioned

log = logging.getLogger(__name__)

REQUESTS = Counter("dicomweb_http_requests_total", "HTTP requests", ["service", "method", "status"])
LATENCY = Histogram(
    "dicomweb_http_request_seconds",
    "HTTP request latency",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[Any]]
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()


class RequestContext:
    """ASGI middleware: a request id (taken from ``X-Request-ID`` or new), echoed back,
    put in every log line; plus the request counter and latency histogram."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # ``labels()`` validates and locks on every call; the few (method, status) pairs a
        # service answers are looked up once each and kept (bounded: the HTTP parser knows a
        # fixed set of methods, and statuses are ours).
        self._counters: dict[tuple[str, int], Counter] = {}
        self._latencies: dict[str, Histogram] = {}

    def _observe(self, method: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, status))
        if counter is None:
            counter = self._counters[method, status] = REQUESTS.labels(
                self.service, method, str(status)
            )
        latency = self._latencies.get(method)
        if latency is None:
            latency = self._latencies[method] = LATENCY.labels(self.service, method)
        counter.inc()
        latency.observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _header(scope, REQUEST_ID_HEADER) or uuid.uuid4().hex
        token = logs.request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (_REQUEST_ID, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope["method"], status, time.perf_counter() - started)
            logs.request_id.reset(token)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def error_response(exc: DicomwebError) -> JSONResponse:
    headers = {}
    if isinstance(exc, BackendUnavailable):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)


async def _dicomweb_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DicomwebError)
    if exc.status >= 500:
        log.warning("answering %s: %s", exc.status, exc.message)
    return error_response(exc)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error")
    return JSONResponse({"error": "internal error"}, status_code=500)


class ApiVersions:
    """ASGI middleware: a path with Microsoft's version segment (``/dicom-web/v1/…``) is served
    as the same path without it (``routes.unversioned``), before authentication, auditing and
    routing see it, so every form reaches the same handler with the same permission."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = unversioned(scope["path"])
            if path != scope["path"]:
                raw = scope.get("raw_path")
                scope = {**scope, "path": path}
                if isinstance(raw, bytes):  # percent-encoded as sent: cut the same segment
                    scope["raw_path"] = unversioned(raw.decode("latin-1")).encode("latin-1")
        await self.app(scope, receive, send)


class _ServiceApp(Starlette):
    """Starlette with CORS outside its own error middleware (a 500 answered there would
    otherwise leave without the headers a browser needs to read it), and the Host check and
    forwarded headers outside that."""

    cors: CorsSettings | None = None
    http: HttpSettings | None = None

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = ApiVersions(super().build_middleware_stack())
        app = app if self.cors is None else cors_middleware(app, self.cors)
        if self.http is not None:
            app = proxies.TrustedHosts(app, proxies.allowed_hosts(self.http))
            app = proxies.ForwardedHeaders(app, self.http.trusted_proxies)
        return app


def cors_middleware(app: ASGIApp, cors: CorsSettings) -> ASGIApp:
    """Starlette's CORSMiddleware from the settings: it answers pre-flight ``OPTIONS`` itself
    (Fetch standard §3.2) and adds ``Access-Control-*`` to answers of cross-origin requests.
    With no origin configured there is no middleware: no cross-origin page may read anything."""
    if not cors.allows_any:
        return app
    # The settings are named as the middleware's keywords, but for the two below.
    options = cors.model_dump(exclude={"enabled", "max_age_seconds"})
    return CORSMiddleware(app, max_age=cors.max_age_seconds, **options)


async def _probe(service: str, checks: Sequence[ReadinessCheck]) -> Response:
    """200 when every check passes, else 503 naming each failure."""
    failures: dict[str, str] = {}
    for check in checks:
        try:
            await check()
        except Exception as exc:
            failures[getattr(check, "__name__", "check")] = str(exc) or type(exc).__name__
    if failures:
        return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
    return JSONResponse({"status": "ready", "service": service})


def create_service_app(
    service: str,
    routes: Sequence[BaseRoute],
    lifespan: Lifespan | None = None,
    readiness: Callable[[Starlette], Sequence[ReadinessCheck]] | None = None,
    cors: CorsSettings | None = None,
    auth: AuthSettings | None = None,
    table: Sequence[TableRoute] | None = None,
    gates: Callable[[Starlette], Sequence[ReadinessCheck]] | None = None,
    http: HttpSettings | None = None,
    audit: tuple[AuditSettings, NatsSettings] | None = None,
) -> Starlette:
    """A Starlette app with the service's routes plus ``/healthz``, ``/readyz``,
    ``/readyz/self``, ``/metrics``; with ``cors``, browsers on other origins may call it (none:
    same-origin only); with ``http``, its Host allow-list and trusted proxies apply. Every
    request needs the permission its routes-table entry names, checked against a bearer token
    when ``auth`` is enabled (see ``dicomcommon.web.auth``); ``table`` replaces the service's
    entries of ``dicomcommon.web.routes.ROUTES`` (for tests of this module). With ``audit`` (and
    auditing enabled) every request on patient data is an audit event on JetStream.

    ``/readyz`` runs the gates and the readiness checks (this replica and the backends it
    uses). ``/readyz/self`` runs only the gates, what this replica alone lacks (the schema
    version its SQL needs): Kubernetes' readiness probe asks it, so a blip of a backend that
    every replica shares does not empty the Service; requests answer 503 themselves."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    def checks(app: Starlette, with_backends: bool) -> list[ReadinessCheck]:
        found = list(gates(app)) if gates else []
        return found + list(readiness(app)) if readiness and with_backends else found

    async def readyz(request: Request) -> Response:
        return await _probe(service, checks(request.app, with_backends=True))

    async def readyz_self(request: Request) -> Response:
        return await _probe(service, checks(request.app, with_backends=False))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    probes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/readyz/self", readyz_self, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    publisher = None
    if audit is not None and audit[0].enabled:
        publisher = AuditPublisher(audit[1], audit[0], service)
        lifespan = _with_publisher(publisher, lifespan)
    app = _ServiceApp(
        routes=[*routes, *probes],  # (tried in order: the service's own requests are most)
        lifespan=lifespan,
        exception_handlers={DicomwebError: _dicomweb_error, Exception: _unexpected_error},
    )
    # Authentication runs inside the audit hook, so refused callers are recorded and the caller
    # it puts in the scope is the one audited; both inside the request context, so refusals
    # carry the request id and are counted.
    entries = tuple(table) if table is not None else routes_for(service)
    app.add_middleware(Authentication, table=entries, settings=auth)
    if publisher is not None:
        refusal = error_response(BackendUnavailable("the audit trail cannot record requests now"))
        app.add_middleware(AuditHook, service=service, publisher=publisher, refusal=refusal)
        app.state.audit_publisher = publisher
    app.add_middleware(RequestContext, service=service)
    app.cors, app.http = cors, http
    return app


class WebSettings(Protocol):
    """What ``create_web_service`` reads of a service's settings (``WebServiceSettings`` and
    the indexer's own have it all)."""

    @property
    def nats(self) -> NatsSettings: ...
    @property
    def http(self) -> HttpSettings: ...
    @property
    def cors(self) -> CorsSettings: ...
    @property
    def auth(self) -> AuthSettings: ...
    @property
    def audit(self) -> AuditSettings: ...


def create_web_service(
    service: str,
    settings: WebSettings,
    routes: Sequence[BaseRoute],
    lifespan: Lifespan,
    readiness: Callable[[Starlette], Sequence[ReadinessCheck]],
    gates: Callable[[Starlette], Sequence[ReadinessCheck]] | None = None,
) -> Starlette:
    """``create_service_app`` for a DICOMweb service: its CORS, authentication, Host and proxy
    rules and its audit trail all come from ``settings``."""
    return create_service_app(
        service,
        routes,
        lifespan,
        readiness,
        cors=settings.cors,
        auth=settings.auth,
        gates=gates,
        http=settings.http,
        audit=(settings.audit, settings.nats),
    )


def _with_publisher(publisher: AuditPublisher, lifespan: Lifespan | None) -> Lifespan:
    """The service's lifespan inside the audit publisher's: events of the last requests are
    flushed after the service has stopped."""

    @asynccontextmanager
    async def both(app: Starlette) -> AsyncIterator[Any]:
        publisher.start()
        try:
            async with lifespan(app) if lifespan else nullcontext() as state:
                yield state
        finally:
            await publisher.close()

    return both


async def small_body(request: Request, limit: int, what: str = "the body") -> bytes:
    """A small request document (JSON of an admin endpoint) read whole, refused with 413 as
    soon as it passes ``limit`` bytes rather than after it has been buffered."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"{what} is at most {limit} bytes")
    return bytes(body)
