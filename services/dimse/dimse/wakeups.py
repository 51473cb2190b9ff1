"""pynetdicom's two threads per association woken by their work instead of polling every 1 ms.

pynetdicom runs each association as two polling loops: the DUL reactor (the socket, and the
PDUs to send) and the association reactor (decoded DIMSE messages, release and abort). Each
sleeps a millisecond whenever it found nothing to do. Every request then waits up to a
millisecond in each loop before it is read and before it is served, and each answer up to one
more before it is written; and every idle association wakes both threads a thousand times a
second, each wake taking the interpreter lock from the threads doing the work.

``install`` replaces those two sleeps (nothing else pynetdicom does) by waits that end as
soon as there is something to do:

- the DUL reactor polls its socket and on a wake-up pipe written whenever a primitive is
  queued for it to send;
- the association reactor waits on an event set whenever a DIMSE message or an association
  primitive (release, abort) is queued for it, and whenever a ``send_*`` call asks it to
  pause (such a call waits until the reactor is paused).

Both waits still end every ``_TIMER_SECONDS``, so everything else the loops check (the ARTIM
and idle timers, a stop) is seen as before, only less often than every millisecond.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import ssl
import sys
import threading
import time
import types
import weakref
from typing import Any

from pynetdicom import association as pyn_association
from pynetdicom import dul as pyn_dul
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

_TIMER_SECONDS = 0.02
_real_sleep = time.sleep


class _Pipe:
    """A wake-up for a thread waiting in ``poll``: a byte written makes the read end ready."""

    def __init__(self, owner: object) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        weakref.finalize(owner, _close, self.reader, self.writer)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
            self.writer.send(b"\0")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            while self.reader.recv(4096):
                pass


def _close(*sockets: socket.socket) -> None:
    for each in sockets:
        each.close()


class _WakingQueue(queue.Queue[Any]):
    """A queue whose every ``put`` calls ``wake`` too."""

    def __init__(self, wake: Any) -> None:
        super().__init__()
        self.wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self.wake()


class _WakingCheckpoint(threading.Event):
    """The association's reactor checkpoint: clearing it (a ``send_*`` call pausing the
    reactor, then waiting until it is paused) wakes the reactor so it pauses at once."""

    def __init__(self, arrived: threading.Event) -> None:
        super().__init__()
        self.arrived = arrived

    def clear(self) -> None:
        super().clear()
        self.arrived.set()


def _dul_sleep(delay: float) -> None:
    """The DUL reactor's idle sleep: until the socket is readable, a primitive is queued to
    send, or the timers are due."""
    dul = threading.current_thread()
    pipe: _Pipe | None = getattr(dul, "_wakeup", None)
    transport = getattr(dul, "socket", None)
    sock = getattr(transport, "socket", None)
    if pipe is None or sock is None or not isinstance(dul, DULServiceProvider):
        _real_sleep(delay)
        return
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return  # decrypted bytes buffered: poll would not see them
    if not dul.to_provider_queue.empty() or dul._kill_thread:
        return
    poller = select.poll()  # not select(): no limit on descriptor numbers
    try:
        poller.register(sock, select.POLLIN)
        poller.register(pipe.reader, select.POLLIN)
        ready = poller.poll(_TIMER_SECONDS * 1000)
    except (OSError, ValueError):  # the socket was closed meanwhile
        _real_sleep(delay)
        return
    if any(fd == pipe.reader.fileno() for fd, _ in ready):
        pipe.drain()


def _association_sleep(delay: float) -> None:
    """The association reactor's 1 ms sleep (only that one): until a message, a primitive or a
    pause request arrives, or the timers are due."""
    assoc = threading.current_thread()
    arrived: threading.Event | None = getattr(assoc, "_arrived", None)
    reactor = sys._getframe(1).f_code is _REACTOR_CODE
    if arrived is None or not reactor or not isinstance(assoc, Association):
        _real_sleep(delay)
        return
    arrived.clear()  # before looking: a put after the look sets it again
    if (
        not assoc.dimse.msg_queue.empty()
        or not assoc.dul.to_user_queue.empty()
        or not assoc._reactor_checkpoint.is_set()
        or assoc._kill
    ):
        return
    arrived.wait(_TIMER_SECONDS)


_REACTOR_CODE = Association._run_reactor.__code__
_original_init = Association.__init__


def _init(self: Association, *args: Any, **kwargs: Any) -> None:
    """pynetdicom's ``Association.__init__``, then the queues and checkpoint that wake."""
    _original_init(self, *args, **kwargs)
    arrived = threading.Event()
    pipe = _Pipe(self.dul)
    self._arrived = arrived  # type: ignore[attr-defined]
    self.dul._wakeup = pipe  # type: ignore[attr-defined]
    self.dul.to_provider_queue = _WakingQueue(pipe.wake)
    self.dul.to_user_queue = _WakingQueue(arrived.set)
    self.dimse.msg_queue = _WakingQueue(arrived.set)
    checkpoint = _WakingCheckpoint(arrived)
    checkpoint.set()
    self._reactor_checkpoint = checkpoint


def _time_with(sleep: Any) -> types.SimpleNamespace:
    """The ``time`` module as one pynetdicom module sees it, with ``sleep`` replaced."""
    return types.SimpleNamespace(**{**vars(time), "sleep": sleep})


def install() -> None:
    """Wake pynetdicom's association threads by their work (every association of this
    process: the listener's and those it requests). Idempotent."""
    if Association.__init__ is _init:
        return
    Association.__init__ = _init  # type: ignore[method-assign]
    pyn_dul.time = _time_with(_dul_sleep)  # type: ignore[attr-defined,assignment]
    pyn_association.time = _time_with(_association_sleep)  # type: ignore[attr-defined,assignment]
