"""The request context counts every answer by method and status and times it, per service,
with the request id echoed; the metric children it keeps must never mix two statuses."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dicomcommon.errors import NotFound
from dicomcommon.principal import Permission
from dicomcommon.web.routes import Route as TableRoute
from dicomcommon.web.webapp import create_service_app

SERVICE = "context-test"


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _missing(request: Request) -> Response:
    raise NotFound("nothing here")


def _count(method: str, status: int) -> float:
    labels = {"service": SERVICE, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("dicomweb_http_requests_total", labels) or 0.0


def _timed(method: str) -> float:
    labels = {"service": SERVICE, "method": method}
    return REGISTRY.get_sample_value("dicomweb_http_request_seconds_count", labels) or 0.0


async def test_answers_are_counted_by_method_and_status_with_the_request_id_echoed() -> None:
    routes = [Route("/ok", _ok, methods=["GET", "POST"]), Route("/missing", _missing)]
    table = [TableRoute("test", SERVICE, ("GET", "POST"), r"^/\w+$", 1, Permission.READ)]
    app = create_service_app(SERVICE, routes, table=table)
    before = {key: _count(*key) for key in (("GET", 200), ("POST", 200), ("GET", 404))}
    timed = _timed("GET")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        for path, method in (("/ok", "GET"), ("/ok", "GET"), ("/missing", "GET"), ("/ok", "POST")):
            answer = await client.request(method, path, headers={"X-Request-ID": f"r-{path}"})
            assert answer.headers["x-request-id"] == f"r-{path}"
        fresh = await client.get("/ok")
        assert len(fresh.headers["x-request-id"]) == 32  # none sent: a new one
    assert _count("GET", 200) - before["GET", 200] == 3
    assert _count("GET", 404) - before["GET", 404] == 1
    assert _count("POST", 200) - before["POST", 200] == 1
    assert _timed("GET") - timed == 4
