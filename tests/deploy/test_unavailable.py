"""IngressRoute mode answers an outage with 503 and Retry-After: a real Traefik (the pinned
version's wheel) runs the generated ``errors`` middleware in front of a service with no ready
endpoint and of one that answers itself, with the generated page server behind it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from dicomstack import deploy
from dicomstack.gateway import RETRY_AFTER_SECONDS
from dicomstack.ports import free_ports
from dicomstack.processes import ChildProcess, binary, http_ok
from tests.polling import eventually

HOST = "127.0.0.1"
MIDDLEWARE = f"{deploy.NAME}-{deploy.UNAVAILABLE}"


class _Service(BaseHTTPRequestHandler):
    """A service that is up: 200 on /ok, its own 503 (no Retry-After) on /busy."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path.endswith("/ok") else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


def _traefik(folder: Path, static: dict[str, Any], dynamic: dict[str, Any]) -> ChildProcess:
    folder.mkdir()
    static["providers"] = {"file": {"filename": str(folder / "dynamic.json"), "watch": False}}
    (folder / "dynamic.json").write_text(json.dumps(dynamic))
    (folder / "static.json").write_text(json.dumps(static))
    ping = static["entryPoints"]["ping"]["address"]
    return ChildProcess(
        folder.name,
        [binary("traefik"), f"--configFile={folder / 'static.json'}"],
        log_path=folder / "traefik.log",
        health=http_ok(f"http://{ping}/ping"),
    )


def _cluster_dynamic(service_url: str, page_url: str) -> dict[str, Any]:
    """The cluster's Traefik as the IngressRoute sets it up: routes with the generated
    middleware, one to a service with no endpoint, one to a service that is up."""
    errors = deploy.unavailable_middleware()["errors"]
    router = {"entryPoints": ["web"], "middlewares": [MIDDLEWARE]}
    return {
        "http": {
            "routers": {
                "down": {**router, "rule": "PathPrefix(`/down`)", "service": "down"},
                "up": {**router, "rule": "PathPrefix(`/up`)", "service": "up"},
            },
            "services": {
                "down": {"loadBalancer": {"servers": []}},
                "up": {"loadBalancer": {"servers": [{"url": service_url}]}},
                deploy.UNAVAILABLE: {"loadBalancer": {"servers": [{"url": page_url}]}},
            },
            "middlewares": {MIDDLEWARE: {"errors": {**errors, "service": deploy.UNAVAILABLE}}},
        }
    }


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    web, web_ping, page, page_ping = free_ports(HOST, 4)
    server = ThreadingHTTPServer((HOST, 0), _Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = tmp_path_factory.mktemp("unavailable")
    page_static = deploy.unavailable_static()
    page_static["entryPoints"] = {
        "web": {"address": f"{HOST}:{page}"},
        "ping": {"address": f"{HOST}:{page_ping}"},
    }
    page_server = _traefik(folder / "page", page_static, deploy.unavailable_dynamic())
    cluster_static = {
        "entryPoints": {
            "web": {"address": f"{HOST}:{web}"},
            "ping": {"address": f"{HOST}:{web_ping}"},
        },
        "ping": {"entryPoint": "ping"},
    }
    service_url = f"http://{HOST}:{server.server_address[1]}"
    dynamic = _cluster_dynamic(service_url, f"http://{HOST}:{page}")
    cluster = _traefik(folder / "cluster", cluster_static, dynamic)
    try:
        page_server.start(60)
        cluster.start(60)
        # Traefik answers its ping before its file provider's routers are in place: wait for
        # the error page and for the cluster's routes to answer as configured.
        assert eventually(lambda: _answers(f"http://{HOST}:{page}/", 503, retry_after=True))
        assert eventually(lambda: _answers(f"http://{HOST}:{web}/down/", 503, retry_after=True))
        assert eventually(lambda: _answers(f"http://{HOST}:{web}/up/ok", 200))
        yield f"http://{HOST}:{web}"
    finally:
        cluster.stop()
        page_server.stop()
        server.shutdown()
        server.server_close()


def _answers(url: str, status: int, retry_after: bool = False) -> bool:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return False
    return response.status_code == status and ("retry-after" in response.headers) == retry_after


def test_a_service_without_endpoints_answers_503_with_retry_after(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/down/dicom-web/studies")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_a_service_s_own_503_keeps_its_status_and_gains_retry_after(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/up/busy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_answers_of_a_service_that_is_up_pass_untouched(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/up/ok")
    assert (response.status_code, response.content) == (200, b"{}")
    assert "retry-after" not in response.headers
