"""CORS and the browser defaults through the gateway against the real stack: the pre-flights
and requests a local viewer such as OHIF v3 sends reach every service and come back readable;
other origins get no CORS headers, and a foreign Host name (DNS rebinding) is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

ORIGIN = "http://localhost:3000"  # where OHIF's dev server runs: allowed by the launcher
FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def study(stack: Stack) -> Iterator[str]:
    ds = instances.fresh()
    response = httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=instances.to_bytes(ds),
        headers={"Content-Type": "application/dicom", "Origin": ORIGIN},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    yield str(ds.StudyInstanceUID)


def _preflight(url: str, method: str, headers: str, origin: str = ORIGIN) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def test_ohif_preflights_reach_every_service(stack: Stack, study: str) -> None:
    root = stack.dicomweb_url
    asked = [
        # QIDO studies with OHIF's query, metadata per series, frames, WADO-URI
        (f"{root}/studies?limit=101&offset=0&fuzzymatching=true", "GET", "accept"),
        (f"{root}/studies/{study}/series/{generate_uid()}/metadata", "GET", "accept"),
        (f"{root}/studies/{study}/series/1.2/instances/1.3/frames/1", "GET", "accept"),
        (f"{stack.gateway_url}/wado?requestType=WADO", "GET", "accept"),
        (f"{root}/studies", "POST", "content-type, accept"),  # STOW
        (f"{root}/studies/{study}", "DELETE", "authorization"),  # DELETE
        (f"{root}/changefeed", "GET", "accept"),
    ]
    for url, method, headers in asked:
        response = _preflight(url, method, headers)
        assert response.status_code == 200, (url, response.status_code, response.text)
        assert response.headers["access-control-allow-origin"] == ORIGIN, url
        assert method in response.headers["access-control-allow-methods"], url
        allowed = response.headers["access-control-allow-headers"].lower()
        assert all(h.strip() in allowed for h in headers.split(",")), url


def test_answers_carry_cors_and_expose_what_clients_read(stack: Stack, study: str) -> None:
    response = httpx.get(
        f"{stack.dicomweb_url}/studies?StudyInstanceUID={study}&includefield=00081030",
        headers={"Origin": ORIGIN, "Accept": "application/dicom+json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    for header in ("content-location", "warning", "etag", "content-range", "x-request-id"):
        assert header in exposed


def test_errors_carry_cors_so_the_browser_can_read_them(stack: Stack) -> None:
    missing = httpx.get(
        f"{stack.dicomweb_url}/studies/{generate_uid()}/metadata",
        headers={"Origin": ORIGIN},
        timeout=30,
    )
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == ORIGIN
    bad = httpx.get(f"{stack.gateway_url}/wado", headers={"Origin": ORIGIN}, timeout=30)
    assert bad.status_code == 400
    assert bad.headers["access-control-allow-origin"] == ORIGIN


def test_other_origins_get_no_cors_headers(stack: Stack, study: str) -> None:
    answer = httpx.get(
        f"{stack.dicomweb_url}/studies?StudyInstanceUID={study}",
        headers={"Origin": FOREIGN},
        timeout=30,
    )
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    refused = _preflight(f"{stack.dicomweb_url}/studies/{study}", "DELETE", "accept", FOREIGN)
    assert "access-control-allow-origin" not in refused.headers
    private = httpx.options(
        f"{stack.dicomweb_url}/studies",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
        timeout=10,
    )
    assert "access-control-allow-private-network" not in private.headers


def test_a_foreign_host_name_is_refused(stack: Stack, study: str) -> None:
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1; the request then
    carries ``Host: evil.example`` and must find nothing."""
    answer = httpx.get(
        f"{stack.dicomweb_url}/studies/{study}/metadata",
        headers={"Host": "evil.example:8080"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "evil.example" in answer.json()["error"]
