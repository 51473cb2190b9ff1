"""TCP options of every association's socket, against the Nagle / delayed-ACK stall.

A DIMSE message goes as several PDUs (the command set, then the data set), each written on
its own. With Nagle's algorithm on, the second write waits until the first is acknowledged,
and the receiver delays that ACK (up to 40 ms on Linux): every request and every response
stalls, whatever the work behind it. So our side writes at once (``TCP_NODELAY``) and
acknowledges what it received at once (``TCP_QUICKACK``, re-armed after each PDU since the
kernel clears it), letting the peer's next write go without waiting for the timer.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from pynetdicom import evt

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _socket(event: Any) -> socket.socket | None:
    transport = getattr(event.assoc.dul, "socket", None)
    return getattr(transport, "socket", None)


def on_connection_open(event: Any) -> None:
    """``EVT_CONN_OPEN``: writes leave at once."""
    sock = _socket(event)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def on_pdu_received(event: Any) -> None:
    """``EVT_PDU_RECV``: acknowledge now (sends a pending delayed ACK), so a peer holding its
    next PDU for that ACK sends it."""
    sock = _socket(event)
    if sock is not None and _QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


HANDLERS: list[Any] = [
    (evt.EVT_CONN_OPEN, on_connection_open),
    (evt.EVT_PDU_RECV, on_pdu_received),
]
"""The handlers to bind on the listener and on the associations we open."""
