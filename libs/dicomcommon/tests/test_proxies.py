"""Trusted proxies and the Host allow-list: a client cannot forge its audited address or the
URLs the server writes, and a rebound DNS name cannot reach a loopback server."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomcommon.principal import Permission
from dicomcommon.settings import HttpSettings
from dicomcommon.web import proxies
from dicomcommon.web.routes import Route as TableRoute
from dicomcommon.web.webapp import create_service_app


async def _echo(request: Request) -> Response:
    client = request.client.host if request.client else ""
    forwarded = {k: v for k, v in request.headers.items() if k.startswith("x-forwarded-")}
    return JSONResponse({"client": client, "scheme": request.url.scheme, "forwarded": forwarded})


_TABLE = [TableRoute("echo", "test", ("GET",), r"^/echo$", 1, Permission.PUBLIC)]


def _client(
    http: HttpSettings, peer: str = "127.0.0.1", host: str = "127.0.0.1:8080"
) -> httpx.AsyncClient:
    app = create_service_app("test", [Route("/echo", _echo)], http=http, table=_TABLE)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9, 10.0.0.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "pacs.example",
}


async def test_forwarded_headers_of_an_untrusted_peer_are_removed() -> None:
    async with _client(HttpSettings(), peer="192.0.2.50") as client:
        answer = (await client.get("/echo", headers=FORWARDED)).json()
    assert answer == {"client": "192.0.2.50", "scheme": "http", "forwarded": {}}


async def test_a_trusted_proxy_names_the_client_and_scheme() -> None:
    http = HttpSettings(trusted_proxies="127.0.0.1,10.0.0.0/8")  # type: ignore[arg-type]
    async with _client(http) as client:
        answer = (await client.get("/echo", headers=FORWARDED)).json()
    # The right-most address that is not itself a trusted proxy is the client.
    assert answer["client"] == "203.0.113.9"
    assert answer["scheme"] == "https"
    assert answer["forwarded"]["x-forwarded-host"] == "pacs.example"


async def test_loopback_is_the_only_trusted_proxy_by_default() -> None:
    assert HttpSettings().trusted_proxies == ["127.0.0.1", "::1"]
    async with _client(HttpSettings()) as client:
        answer = (await client.get("/echo", headers={"X-Forwarded-For": "198.51.100.1"})).json()
    assert answer["client"] == "198.51.100.1"


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("dicomweb.example", 200),  # the public base URL's host
        ("attacker.example:8080", 400),  # DNS rebinding: the attacker's name, our address
        ("", 400),
    ],
)
async def test_a_loopback_service_answers_only_its_own_names(host: str, status: int) -> None:
    http = HttpSettings(public_base_url="https://dicomweb.example/dicom-web")
    app = create_service_app("test", [Route("/echo", _echo)], http=http, table=_TABLE)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.get("/echo", headers={"Host": host})
    assert answer.status_code == status, answer.text


def test_allowed_hosts_default_by_where_the_service_listens() -> None:
    loopback = HttpSettings(host="127.0.0.1", public_base_url="http://127.0.0.1:8080/dicom-web")
    assert proxies.allowed_hosts(loopback) == ["localhost", "127.0.0.1", "::1", "127.0.0.1"]
    assert proxies.allowed_hosts(HttpSettings(host="0.0.0.0")) == ["*"]
    configured = HttpSettings(host="0.0.0.0", allowed_hosts="pacs.example,*.example.org")  # type: ignore[arg-type]
    assert proxies.allowed_hosts(configured) == ["pacs.example", "*.example.org"]


def test_wildcard_names_match_subdomains_only() -> None:
    check = proxies.TrustedHosts(_echo, ["*.example.org", "pacs.example"])  # type: ignore[arg-type]
    assert check.allows("viewer.example.org:443")
    assert check.allows("PACS.example")
    assert not check.allows("example.org")
    assert not check.allows("evil-example.org")
