"""Free ports for test stacks: distinct, bindable, and never from the kernel's ephemeral range,
where a crashed component's port could be taken by an outgoing connection before it restarts."""

from __future__ import annotations

import socket

from dicomstack import ports


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    chosen = ports.free_ports("127.0.0.1", 20)
    assert len(set(chosen)) == 20
    assert all(ports.LOWEST_PICK <= port < ports.ephemeral_low() for port in chosen)
    for port in chosen:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
