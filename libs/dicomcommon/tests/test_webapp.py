"""CORS on every service: nothing cross-origin by default; once an origin is configured,
pre-flights answered and every answer to its requests readable by the browser, errors and
unexpected 500s included."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dicomcommon.errors import NotFound
from dicomcommon.principal import Permission
from dicomcommon.settings import CorsSettings
from dicomcommon.web.routes import Route as TableRoute
from dicomcommon.web.webapp import create_service_app
from dicomstack.services import LOOPBACK_ORIGINS

ORIGIN = "https://viewer.example"


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Content-Location": "/x", "Warning": '299 x "y"'})


async def _missing(request: Request) -> Response:
    raise NotFound("nothing here")


async def _broken(request: Request) -> Response:
    raise RuntimeError("bug")


def _client(cors: CorsSettings | None = None) -> httpx.AsyncClient:
    """A service app whose CORS settings allow ``ORIGIN`` unless ``cors`` says otherwise."""
    routes = [
        Route("/ok", _ok, methods=["GET", "DELETE"]),
        Route("/missing", _missing),
        Route("/broken", _broken),
    ]
    table = [TableRoute("test", "test", ("GET", "DELETE"), r"^/\w+$", 1, Permission.READ)]
    app = create_service_app(
        "test", routes, cors=cors or CorsSettings(allow_origins=[ORIGIN]), table=table
    )
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
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "DELETE" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"accept", "authorization", "x-request-id"} <= set(allowed.replace(" ", "").split(","))


@pytest.mark.parametrize(("path", "status"), [("/ok", 200), ("/missing", 404), ("/broken", 500)])
async def test_every_answer_to_a_cross_origin_request_carries_cors(path: str, status: int) -> None:
    response = await _client().get(path, headers={"Origin": ORIGIN})
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ORIGIN


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


async def test_no_origin_is_allowed_by_default() -> None:
    """A web page the user happens to open must not read or delete studies."""
    client = _client(CorsSettings())
    answer = await client.get("/ok", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert not any(h.startswith("access-control-") for h in answer.headers)
    preflight = await client.options(
        "/ok", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405  # no CORS: the route itself does not take OPTIONS


async def test_loopback_origins_by_regex_allow_a_local_viewer_only() -> None:
    client = _client(CorsSettings(allow_origin_regex=LOOPBACK_ORIGINS))
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173"):
        answer = await client.get("/ok", headers={"Origin": origin})
        assert answer.headers["access-control-allow-origin"] == origin
    for origin in ("http://localhost.evil.example", "https://viewer.example"):
        answer = await client.get("/ok", headers={"Origin": origin})
        assert "access-control-allow-origin" not in answer.headers


async def test_private_network_access_is_refused_unless_enabled() -> None:
    """Chrome asks before a public page may call a private address (Private Network Access);
    the answer allows it only when the setting says so."""
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Private-Network": "true",
    }
    default = await _client().options("/ok", headers=headers)
    assert "access-control-allow-private-network" not in default.headers
    enabled = CorsSettings(allow_origins=[ORIGIN], allow_private_network=True)
    allowed = await _client(enabled).options("/ok", headers=headers)
    assert allowed.headers["access-control-allow-private-network"] == "true"


def test_defaults_allow_no_origin_and_no_private_network() -> None:
    settings = CorsSettings()
    assert settings.allow_origins == []
    assert settings.allow_origin_regex is None
    assert settings.allow_private_network is False


async def _echo_path(request: Request) -> Response:
    return PlainTextResponse(f"{request.url.path} {request.scope.get('raw_path', b'').decode()}")


async def test_microsofts_versioned_paths_reach_the_unversioned_handler() -> None:
    routes = [Route("/dicom-web/studies/{study}", _echo_path)]
    pattern = r"^/dicom-web/studies/[^/]+$"
    table = [TableRoute("test", "test", ("GET",), pattern, 1, Permission.READ)]
    app = create_service_app("test", routes, table=table)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        for version in ("v1", "v1.0-prerelease", "v2"):
            answer = await client.get(f"/dicom-web/{version}/studies/1.2%2E3")
            assert answer.status_code == 200, answer.text
            assert answer.text == "/dicom-web/studies/1.2.3 /dicom-web/studies/1.2%2E3"
        assert (await client.get("/dicom-web/v3/studies/1.2")).status_code == 404
