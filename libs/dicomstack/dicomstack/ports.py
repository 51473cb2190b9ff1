"""Ports: check a fixed port is free before starting anything, or pick free ones for tests.

Checking up front turns "address already in use" deep in a child's log into one clear line.
"""

from __future__ import annotations

import random
import socket
from contextlib import ExitStack
from pathlib import Path

from dicomstack.errors import PortInUse

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_EPHEMERAL_LOW = 32768  # where the kernel starts its ephemeral ports when /proc says nothing
LOWEST_PICK = 10_000  # below this live well-known and registered servers' ports


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


def ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections and to ``bind(0)``."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_EPHEMERAL_LOW


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports the kernel considers free right now, chosen at random below
    its ephemeral range.

    A component that crashes is restarted on the same port, so the port must stay free while
    it is down: one from the ephemeral range may meanwhile become the local end of any outgoing
    connection on the machine, or the pick of another program's ``bind(0)`` (another test
    stack), and the component could never come back. All sockets stay bound until every port
    is chosen, so the ports differ from each other.
    """
    candidates = list(range(LOWEST_PICK, ephemeral_low()))
    random.shuffle(candidates)
    with ExitStack() as stack:
        chosen: list[int] = []
        for port in candidates:
            if len(chosen) == count:
                return chosen
            try:
                stack.enter_context(_bound_socket(host, port))
            except OSError:
                continue
            chosen.append(port)
        # no room below the ephemeral range (a tuned kernel): let the kernel choose
        sockets = [stack.enter_context(_bound_socket(host, 0)) for _ in range(count - len(chosen))]
        return chosen + [int(s.getsockname()[1]) for s in sockets]


def resolve(host: str, wanted: dict[str, int]) -> dict[str, int]:
    """The same keys with every 0 replaced by a distinct free port (tests run on free ports)."""
    free = iter(free_ports(host, sum(1 for port in wanted.values() if port == 0)))
    return {key: (next(free) if port == 0 else port) for key, port in wanted.items()}
