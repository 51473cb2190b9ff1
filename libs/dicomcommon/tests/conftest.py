"""Session fixtures for the library's tests: one real SeaweedFS for the S3 blob store."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from dicomstack.seaweedfs import SeaweedFs


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFs]:
    """A real S3-compatible server on a free loopback port, started once per test session."""
    server = SeaweedFs(tmp_path_factory.mktemp("seaweedfs"), s3_port=_free_port())
    with server:
        yield server
