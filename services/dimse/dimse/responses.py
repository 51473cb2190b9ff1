"""A response belongs to the request waiting for it, never to the association's reactor.

pynetdicom runs a reactor thread per association that takes each complete incoming DIMSE
message off the queue and serves it as a request. A ``send_*`` call first pauses that
reactor: it clears a checkpoint, then waits until the reactor's "paused" flag is up. The
reactor raises that flag *before* it passes the checkpoint and lowers it after, so a sender
that clears the checkpoint just as the reactor passes it reads a stale "paused", sends its
request and waits for the answer, while the reactor goes on to poll the queue once more.
When the peer answers within that moment (a fast peer, a busy requestor), the reactor takes
the response, logs "Received unexpected C-STORE service message" and drops it; the sender
waits out its DIMSE timeout and aborts the association, one store short.

``on_established`` (bound as ``EVT_ESTABLISHED`` on every association we request) puts such
a response back at the head of the queue the sender waits on.
"""

from __future__ import annotations

from typing import Any

from pynetdicom import evt


def guard(assoc: Any) -> Any:
    """Make ``assoc``'s reactor hand responses back to the waiting sender; ``assoc``."""
    serve = assoc._serve_request

    def serve_or_hand_back(msg: Any, context_id: int) -> None:
        sender_waiting = not assoc._reactor_checkpoint.is_set()
        if sender_waiting and msg.is_valid_response:
            _put_first(assoc.dimse.msg_queue, (context_id, msg))
            return
        serve(msg, context_id)

    assoc._serve_request = serve_or_hand_back
    return assoc


def on_established(event: Any) -> None:
    """``EVT_ESTABLISHED``: guard the new association before its first request."""
    guard(event.assoc)


def _put_first(queue: Any, item: Any) -> None:
    """Back at the head of the queue: it came before anything queued since."""
    with queue.not_empty:
        queue.queue.appendleft(item)
        queue.unfinished_tasks += 1
        queue.not_empty.notify()


HANDLERS: list[Any] = [(evt.EVT_ESTABLISHED, on_established)]
"""The handler to bind on every association we request (C-MOVE destinations, storage
commitment reports, clients)."""
