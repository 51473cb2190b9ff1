"""Session fixtures shared by every test tier: the real stack, started by the same
launcher as ``make run`` (on free ports in a temporary folder), and an embedded S3 server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dicomstack.ports import free_ports
from dicomstack.seaweedfs import SeaweedFs
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

# Point end-to-end tests at a deployed server instead of starting the stack here.
E2E_URL_VARIABLE = "DICOMWEB_E2E_URL"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL, NATS, filesystem blobs, the five services and Traefik, once per session.

    Tests use ``stack.dicomweb_url`` and friends, and ``stack.kill / restart / stop_component /
    start_component`` for crash and outage tests (leave the stack healthy when done)."""
    with Stack(StackSettings.ephemeral(tmp_path_factory.mktemp("stack"))) as running:
        yield running


@pytest.fixture(scope="session")
def auth_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second stack whose services require bearer tokens of a local OIDC provider
    (``stack.oidc``), started only by the tests that ask for it. Keys may be fetched again
    after a second, so key rotation shows quickly."""
    environ = {**os.environ, "DICOMWEB_AUTH_JWKS_REFRESH_MIN_SECONDS": "1"}
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("auth-stack"), auth=True)
    with Stack(settings, environ=environ) as running:
        yield running


@pytest.fixture(scope="session")
def dicomweb_url(request: pytest.FixtureRequest) -> str:
    """The DICOMweb root under test: ``$DICOMWEB_E2E_URL`` when set, else the session stack."""
    external = os.environ.get(E2E_URL_VARIABLE)
    if external:
        return external.rstrip("/")
    started: Stack = request.getfixturevalue("stack")
    return started.dicomweb_url


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFs]:
    """A real S3-compatible server (SeaweedFS) on a free loopback port, once per session."""
    server = SeaweedFs(tmp_path_factory.mktemp("seaweedfs"), s3_port=free_ports("127.0.0.1", 1)[0])
    with server:
        yield server
