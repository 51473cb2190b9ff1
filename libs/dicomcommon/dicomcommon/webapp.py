"""What every HTTP service shares: request ids, metrics, health probes, CORS, authentication
and the error handler.

``create_service_app`` wraps a service's own routes; ``DicomwebError`` subclasses become their
status code with a JSON body (and ``Retry-After`` for 503), and nothing escapes as a bare 500.
CORS wraps everything else, so a browser can read every answer, errors included.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomcommon import logs
from dicomcommon.auth import Authentication
from dicomcommon.errors import BackendUnavailable, DicomwebError
from dicomcommon.routes import Route as TableRoute
from dicomcommon.routes import routes_for
from dicomcommon.settings import AuthSettings, CorsSettings

log = logging.getLogger(__name__)

REQUESTS = Counter("dicomweb_http_requests_total", "HTTP requests", ["service", "method", "status"])
LATENCY = Histogram(
    "dicomweb_http_request_seconds",
    "HTTP request latency",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

ReadinessCheck = Callable[[], Awaitable[None]]
REQUEST_ID_HEADER = "x-request-id"


class RequestContext:
    """ASGI middleware: a request id (taken from ``X-Request-ID`` or new), echoed back,
    put in every log line; plus the request counter and latency histogram."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

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
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"]
            REQUESTS.labels(self.service, method, str(status)).inc()
            LATENCY.labels(self.service, method).observe(time.perf_counter() - started)
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


class _CorsApp(Starlette):
    """Starlette with CORS outside its own error middleware: a 500 answered there would
    otherwise leave without the headers a browser needs to read it."""

    cors: CorsSettings | None = None

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        return app if self.cors is None else cors_middleware(app, self.cors)


def cors_middleware(app: ASGIApp, cors: CorsSettings) -> ASGIApp:
    """Starlette's CORSMiddleware from the settings: it answers pre-flight ``OPTIONS`` itself
    (Fetch standard §3.2) and adds ``Access-Control-*`` to answers of cross-origin requests."""
    if not cors.enabled:
        return app
    return CORSMiddleware(
        app,
        allow_origins=cors.allow_origins,
        allow_origin_regex=cors.allow_origin_regex,
        allow_methods=cors.allow_methods,
        allow_headers=cors.allow_headers,
        allow_credentials=cors.allow_credentials,
        allow_private_network=cors.allow_private_network,
        expose_headers=cors.expose_headers,
        max_age=cors.max_age_seconds,
    )


def create_service_app(
    service: str,
    routes: Sequence[BaseRoute],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[Any]] | None = None,
    readiness: Callable[[Starlette], Sequence[ReadinessCheck]] | None = None,
    cors: CorsSettings | None = None,
    auth: AuthSettings | None = None,
    table: Sequence[TableRoute] | None = None,
) -> Starlette:
    """A Starlette app with the service's routes plus ``/healthz``, ``/readyz``, ``/metrics``;
    with ``cors``, browsers on other origins may call it (none: same-origin only). Every request
    needs the permission its routes-table entry names, checked against a bearer token when
    ``auth`` is enabled (see ``dicomcommon.auth``); ``table`` replaces the service's entries of
    ``dicomcommon.routes.ROUTES`` (for tests of this module)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": service})

    async def readyz(request: Request) -> Response:
        failures: dict[str, str] = {}
        for check in readiness(request.app) if readiness else ():
            try:
                await check()
            except Exception as exc:
                failures[getattr(check, "__name__", "check")] = str(exc) or type(exc).__name__
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "service": service})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    probes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = _CorsApp(
        routes=[*probes, *routes],
        lifespan=lifespan,
        exception_handlers={DicomwebError: _dicomweb_error, Exception: _unexpected_error},
    )
    # Inside the request context, so refusals carry the request id and are counted.
    entries = tuple(table) if table is not None else routes_for(service)
    app.add_middleware(Authentication, table=entries, settings=auth)
    app.add_middleware(RequestContext, service=service)
    app.cors = cors
    return app
