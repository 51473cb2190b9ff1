"""Run a service's ASGI app under uvicorn (uvloop, httptools) with JSON logs."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from dicomcommon import logs, malloc
from dicomcommon.settings import HttpSettings


def run(service: str, app: Starlette, http: HttpSettings) -> None:
    logs.configure(service, http.log_level)
    malloc.limit_arenas()
    uvicorn.run(
        app,
        host=http.host,
        port=http.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        server_header=False,
        limit_concurrency=None,
        # X-Forwarded-* are read by dicomcommon.proxies, from trusted proxies only.
        proxy_headers=False,
        backlog=2048,
    )
