"""pynetdicom's requestor race (``dimse.responses``), played step by step on a real
association to the stack's DIMSE service: the sender pauses the reactor and sends a C-ECHO;
the reactor, having read a stale "paused", polls the queue once more and takes the response.
Unguarded, the response is dropped and the sender waits out its DIMSE timeout; guarded, the
sender gets it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pynetdicom import AE, VerificationPresentationContexts
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from dicomstack.stack import Stack
from dimse import responses
from tests.integration.dimse_peers import CALLED, DIMSE_MARKS

pytestmark = DIMSE_MARKS
SENDER_WAIT_SECONDS = 2


def _echo_while_the_reactor_polls(stack: Stack, evt_handlers: list[Any]) -> Any:
    """What the sender of a C-ECHO gets when the reactor takes the response first."""
    ae = AE(ae_title="RACER")
    ae.requested_contexts = VerificationPresentationContexts
    ae.dimse_timeout = SENDER_WAIT_SECONDS
    assoc = ae.associate(*stack.dimse_address, ae_title=CALLED, evt_handlers=evt_handlers)
    assert assoc.is_established
    try:
        assoc._reactor_checkpoint.clear()  # the sender pauses the reactor ...
        while not assoc._is_paused:
            time.sleep(0.001)
        request = C_ECHO()
        request.MessageID = 1
        request.AffectedSOPClassUID = Verification
        context_id = assoc.accepted_contexts[0].context_id
        assoc.dimse.send_msg(request, context_id)  # ... and sends its request
        deadline = time.monotonic() + 10
        while assoc.dimse.msg_queue.empty() and time.monotonic() < deadline:
            time.sleep(0.001)
        taken_id, taken = assoc.dimse.get_msg(block=False)  # the reactor's extra poll
        assert taken is not None and taken.is_valid_response
        assoc._serve_request(taken, taken_id)  # and what it does with a message
        _, answer = assoc.dimse.get_msg(block=True)  # the sender's wait
        assoc._reactor_checkpoint.set()
        return answer
    finally:
        assoc.release()


@pytest.mark.filterwarnings("ignore")
def test_an_unguarded_association_loses_the_response_its_reactor_took(stack: Stack) -> None:
    assert _echo_while_the_reactor_polls(stack, []) is None


def test_a_guarded_association_hands_the_response_back_to_its_sender(stack: Stack) -> None:
    answer = _echo_while_the_reactor_polls(stack, responses.HANDLERS)
    assert answer is not None
    assert isinstance(answer, C_ECHO) and answer.Status == 0x0000
