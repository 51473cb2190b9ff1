"""The gateway's ``/healthz``: one report of every part's health (services and backends)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Check = Callable[[], Awaitable[None]]


async def _probe(check: Check) -> dict[str, str]:
    try:
        await asyncio.wait_for(check(), timeout=3)
    except Exception as exc:
        return {"status": "unavailable", "detail": str(exc) or type(exc).__name__}
    return {"status": "ok"}


def _ready_check(client: httpx.AsyncClient, url: str) -> Check:
    async def check() -> None:
        response = await client.get(f"{url.rstrip('/')}/readyz")
        if response.status_code != 200:
            raise RuntimeError(f"/readyz answered {response.status_code}")

    return check


async def stack_health(request: Request) -> Response:
    """200 when every part answers, else 503; the body lists each part."""
    state = request.app.state
    checks: dict[str, Check] = {
        "postgres": state.check_postgres,
        "nats": state.bus.check,
        "storage": state.blobs.check,
    }
    for name, url in state.settings.health_targets.items():
        checks[name] = _ready_check(state.http_client, url)
    results = await asyncio.gather(*(_probe(c) for c in checks.values()))
    parts = dict(zip(checks, results, strict=True))
    parts["indexer"] = {"status": "ok"}
    healthy = all(p["status"] == "ok" for p in parts.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "parts": parts},
        status_code=200 if healthy else 503,
    )
