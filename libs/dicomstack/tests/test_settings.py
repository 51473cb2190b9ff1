"""Launcher settings: replica lists, free ports for tests, and the busy-port message."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dicomstack import ports
from dicomstack.errors import PortInUse
from dicomstack.settings import StackSettings, parse_replicas


def test_parse_replicas_reads_service_counts() -> None:
    assert parse_replicas("stow=2, qido=3") == {"stow": 2, "qido": 3}
    assert parse_replicas("") == {}


@pytest.mark.parametrize("text", ["stow", "nope=2", "stow=0", "stow=x"])
def test_parse_replicas_rejects_malformed_entries(text: str) -> None:
    with pytest.raises(ValueError, match="bad replicas entry"):
        parse_replicas(text)


def test_ephemeral_settings_ask_for_free_ports(tmp_path: Path) -> None:
    settings = StackSettings.ephemeral(tmp_path)
    assert settings.gateway_port == 0 and settings.service_base_port == 0
    resolved = ports.resolve("127.0.0.1", {"a": 0, "b": 0, "c": 8080})
    assert resolved["c"] == 8080 and len({resolved["a"], resolved["b"]}) == 2


def test_a_busy_port_names_the_setting_that_moves_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            ports.ensure_free("127.0.0.1", port, "DICOMWEB_STACK_GATEWAY_PORT")
    assert str(caught.value) == (f"port {port} is in use: set DICOMWEB_STACK_GATEWAY_PORT")
