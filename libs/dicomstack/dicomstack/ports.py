"""Ports: check a fixed port is free before starting anything, or pick free ones for tests.

Checking up front turns "address already in use" deep in a child's log into one clear line.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

from dicomstack.errors import PortInUse


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR ignores TIME_WAIT leftovers of our own previous run, as the servers do.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def ensure_free(host: str, port: int, setting: str) -> None:
    """Raise ``PortInUse`` naming ``setting`` when something already listens on ``port``."""
    try:
        _bound_socket(host, port).close()
    except OSError as exc:
        raise PortInUse(host, port, setting) from exc


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports the kernel considers free right now.

    All sockets stay bound until every port is chosen, so the ports differ from each other.
    """
    with ExitStack() as stack:
        sockets = [stack.enter_context(_bound_socket(host, 0)) for _ in range(count)]
        return [int(s.getsockname()[1]) for s in sockets]


def resolve(host: str, wanted: dict[str, int]) -> dict[str, int]:
    """The same keys with every 0 replaced by a distinct free port (tests run on free ports)."""
    free = iter(free_ports(host, sum(1 for port in wanted.values() if port == 0)))
    return {key: (next(free) if port == 0 else port) for key, port in wanted.items()}
