"""CORS on every service (issue 5): pre-flights answered, every answer to a cross-origin
request readable by the browser, errors and unexpected 500s included."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dicomcommon.errors import NotFound
from dicomcommon.principal import Permission
from dicomcommon.routes import Route as TableRoute
from dicomcommon.settings import CorsSettings
from dicomcommon.webapp import create_service_app

ORIGIN = "https://viewer.example"


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Content-Location": "/x", "Warning": '299 x "y"'})


async def _missing(request: Request) -> Response:
    raise NotFound("nothing here")


async def _broken(request: Request) -> Response:
    raise RuntimeError("bug")


def _client(cors: CorsSettings | None = None) -> httpx.AsyncClient:
    routes = [
        Route("/ok", _ok, methods=["GET", "DELETE"]),
        Route("/missing", _missing),
        Route("/broken", _broken),
    ]
    table = [TableRoute("test", "test", ("GET", "DELETE"), r"^/\w+$", 1, Permission.READ)]
    app = create_service_app("test", routes, cors=cors or CorsSettings(), table=table)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://service")


async def test_preflight_is_answered_for_any_method_and_header_a_viewer_sends() -> None:
    response = await _client().options(
        "/ok",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "accept, authorization, x-request-id",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "DELETE" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"accept", "authorization", "x-request-id"} <= set(allowed.replace(" ", "").split(","))


@pytest.mark.parametrize(("path", "status"), [("/ok", 200), ("/missing", 404), ("/broken", 500)])
async def test_every_answer_to_a_cross_origin_request_carries_cors(path: str, status: int) -> None:
    response = await _client().get(path, headers={"Origin": ORIGIN})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"


async def test_headers_clients_need_are_exposed() -> None:
    response = await _client().get("/ok", headers={"Origin": ORIGIN})
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"content-location", "warning", "etag", "content-range", "x-request-id"} <= exposed


async def test_allowed_origins_come_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMWEB_CORS_ALLOW_ORIGINS", f"{ORIGIN}, https://other.example")
    settings = CorsSettings()
    assert settings.allow_origins == [ORIGIN, "https://other.example"]
    client = _client(settings)
    allowed = await client.get("/ok", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    refused = await client.options(
        "/ok", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_can_be_switched_off() -> None:
    response = await _client(CorsSettings(enabled=False)).get("/ok", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
