"""The embedded PostgreSQL when the project lives where its server user cannot go: root with
the repository in a private folder (mode 0700, like ``/root``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomstack import postgres
from dicomstack.ports import free_ports

pytestmark = pytest.mark.integration


def test_starts_from_binaries_inside_a_private_directory(tmp_path: Path) -> None:
    """As root the server runs as a system user, which cannot reach a 0700 folder's binaries."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    postgres.copy_install(postgres.bin_dir(), private / "site")
    private.chmod(0o700)
    binaries = private / "site" / "pgserver" / "pginstall" / "bin"
    data = tmp_path / "elsewhere" / "postgres"
    port = free_ports("127.0.0.1", 1)[0]
    server = postgres.Postgres(
        data, tmp_path / "postgres.log", "127.0.0.1", port, binaries=binaries
    )
    try:
        server.start(timeout=60)
        assert server.running
    finally:
        server.stop()
    assert private.stat().st_mode & 0o777 == 0o700  # the private folder stays private
