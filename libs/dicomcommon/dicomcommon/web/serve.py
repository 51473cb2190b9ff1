"""Run a service's ASGI app under uvicorn (uvloop, httptools) with JSON logs and, when an OTLP
endpoint is configured, traces; unless its authentication settings are unsafe (then one line
on stderr and exit status 2)."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette

from dicomcommon.settings import AuthSettings, HttpSettings, TracingSettings
from dicomcommon.web import logs, malloc, tracing
from dicomcommon.web.auth import startup_problem


def run(
    service: str,
    app: Starlette,
    http: HttpSettings,
    auth: AuthSettings,
    traces: TracingSettings | None = None,
) -> None:
    problem = startup_problem(auth, http.host)
    if problem:
        print(f"{service}: refusing to start: {problem}", file=sys.stderr)
        sys.exit(2)
    logs.configure(service, http.log_level)
    malloc.limit_arenas()
    tracing.configure(service, traces)
    uvicorn.run(
        tracing.instrument(app),
        host=http.host,
        port=http.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
        limit_concurrency=None,
        # X-Forwarded-* are read by dicomcommon.web.proxies, from trusted proxies only.
        proxy_headers=False,
        backlog=2048,
    )
