"""The launcher against the real processes: everything starts, the gateway routes each path to
its service, a killed component comes back, and a busy port is one clear line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from dicomstack.stack import Stack
from tests.polling import eventually

pytestmark = pytest.mark.integration


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return 0


def _requests_seen(service_url: str, service: str) -> float:
    """The service's own request counter from its Prometheus ``/metrics``."""
    text = httpx.get(f"{service_url}/metrics", timeout=2.0).text
    pattern = rf'^dicomweb_http_requests_total\{{[^}}]*service="{service}"[^}}]*\}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


def test_every_service_replica_is_ready_on_its_own_port(stack: Stack) -> None:
    for service, urls in stack.service_urls.items():
        for url in urls:
            assert _status(f"{url}/readyz") == 200, service


def test_gateway_health_answers(stack: Stack) -> None:
    assert _status(f"{stack.gateway_url}/healthz") == 200


@pytest.mark.parametrize(
    ("method", "path", "service"),
    [
        ("GET", "/dicom-web/studies", "qido"),
        ("GET", "/dicom-web/studies/1.2.3/series", "qido"),
        ("GET", "/dicom-web/changefeed", "qido"),
        ("GET", "/dicom-web/studies/1.2.3/series/4.5/instances/6.7", "wado"),
        ("GET", "/wado?requestType=WADO", "wado"),
        ("POST", "/dicom-web/studies", "stow"),
        ("DELETE", "/dicom-web/studies/1.2.3", "delow"),
    ],
)
def test_gateway_routes_each_request_to_its_service(
    stack: Stack, method: str, path: str, service: str
) -> None:
    service_url = stack.service_urls[service][0]
    before = _requests_seen(service_url, service)
    request_id = uuid.uuid4().hex
    response = httpx.request(
        method, stack.gateway_url + path, headers={"x-request-id": request_id}, timeout=10.0
    )
    assert response.headers.get("x-request-id") == request_id
    assert eventually(lambda: _requests_seen(service_url, service) > before, 5.0)


def test_a_killed_indexer_is_restarted_and_recovers(stack: Stack) -> None:
    stack.kill("indexer")
    assert _status(f"{stack.service_urls['indexer'][0]}/healthz") == 0
    stack.restart("indexer")
    assert _status(f"{stack.service_urls['indexer'][0]}/readyz") == 200
    assert eventually(lambda: _status(f"{stack.gateway_url}/healthz") == 200)


def test_services_recover_from_a_nats_outage(stack: Stack) -> None:
    stow = stack.service_urls["stow"][0]
    stack.stop_component("nats")
    try:
        assert eventually(lambda: _status(f"{stow}/readyz") == 503)
    finally:
        stack.start_component("nats")
    assert eventually(lambda: _status(f"{stow}/readyz") == 200)
    assert eventually(lambda: _status(f"{stack.gateway_url}/healthz") == 200)


def test_a_busy_gateway_port_is_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    busy = stack.gateway_url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        "DICOMWEB_STACK_DATA_DIR": str(tmp_path / "data"),
        "DICOMWEB_STACK_GATEWAY_PORT": busy,
    }
    done = subprocess.run(
        [sys.executable, "-m", "dicomstack", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"port {busy} is in use: set DICOMWEB_STACK_GATEWAY_PORT" in done.stderr
    assert "Traceback" not in done.stderr
