"""``dimse.wakeups``: an idle association's two pynetdicom threads wait for work instead of
looping every millisecond, and still serve, pause for a ``send_*`` call and release at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from dicomstack.ports import free_ports
from dimse import responses, wakeups

IDLE_SECONDS = 0.5


@pytest.fixture
def echo_server() -> Iterator[tuple[ThreadedAssociationServer, list[Association]]]:
    """A Verification SCP in this process; the associations it accepted."""
    wakeups.install()
    accepted: list[Association] = []
    ae = AE(ae_title="WAKEUPS")
    ae.add_supported_context(Verification)
    [port] = free_ports("127.0.0.1", 1)
    handlers: list[Any] = [(evt.EVT_ESTABLISHED, lambda event: accepted.append(event.assoc))]
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    assert server is not None
    try:
        yield server, accepted
    finally:
        server.shutdown()


def _associate(server: ThreadedAssociationServer) -> Association:
    ae = AE(ae_title="CLIENT")
    ae.add_requested_context(Verification)
    host, port = server.server_address[:2]
    assoc = ae.associate(host, port, ae_title="WAKEUPS", evt_handlers=responses.HANDLERS)
    assert assoc.is_established
    return assoc


def _counting(owner: Any, name: str) -> Callable[[], int]:
    """Count calls of ``owner.name`` from now on (each is one turn of a reactor loop)."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)
    return lambda: calls[0]


def test_idle_association_threads_wait_instead_of_polling(
    echo_server: tuple[ThreadedAssociationServer, list[Association]],
) -> None:
    server, accepted = echo_server
    assoc = _associate(server)
    try:
        [served] = accepted
        dul_turns = _counting(served.dul, "_process_recv_primitive")
        reactor_turns = _counting(served.dimse, "get_msg")
        time.sleep(IDLE_SECONDS)
        # Polling: a turn per millisecond (~500 each); waiting: one per timer tick (~25).
        assert dul_turns() < 100
        assert reactor_turns() < 100
    finally:
        assoc.release()


def test_woken_association_serves_pauses_and_releases(
    echo_server: tuple[ThreadedAssociationServer, list[Association]],
) -> None:
    """Each C-ECHO is a request the acceptor's threads are woken for, and on the requestor
    a ``send_*`` call that waits until its reactor pauses; the release ends both."""
    server, accepted = echo_server
    assoc = _associate(server)
    started = time.monotonic()
    for _ in range(20):
        assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert assoc.is_released
    [served] = accepted
    served.join(timeout=5)
    assert not served.is_alive()
    # Not a benchmark: only far below the timer tick each turn would wait if never woken.
    assert time.monotonic() - started < 20 * 0.02 * 10
