"""C-FIND pending responses written as ready P-DATA-TF PDUs, many to one socket write.

pynetdicom sends every DIMSE message through a chain built for any message: a primitive, a
message object holding two pydicom data sets, its command set encoded, then for each fragment
a P-DATA primitive put on the DUL's queue, the DUL thread woken, its state machine stepped,
a PDU object built, encoded and written. A C-FIND answers each match with a pending response
of two fragments (command set, identifier), so a study-level query spent most of its CPU and
its time in that chain, and each match cost two thread hand-offs and two writes.

``PendingAnswers`` writes the PDUs of each pending response itself (the command set once per
request by ``commandsets.command``, the identifier as ``answers`` encoded it) and hands many
to the DUL as one ``EncodedPData``: one queue put, one wake-up, one write. ``install`` has the
state machine's two P-DATA actions (DT-1, and AR-7 in a release collision) write such a
primitive's bytes as they are; any other P-DATA goes as before, so what pynetdicom sends
itself (the final response, an answer ``answers`` leaves to pydicom) keeps its place in the
same queue, after the pending responses queued before it.

Every other C-ECHO, C-FIND and C-STORE message whose data set (if any) is in memory (C-FIND's
final response, C-STORE's and C-ECHO's, a request an SCU sends) is written the same way
(``message_pdus``) by ``install``'s ``send_msg``: the command set straight from the primitive,
byte for byte what pynetdicom makes of it; every other message goes pynetdicom's way.

Messages written this way trigger no ``EVT_DIMSE_SENT`` / ``EVT_PDU_SENT``: on an association
with a handler bound to ``EVT_DIMSE_SENT`` (pynetdicom's logging of each message, at INFO or
DEBUG), ``send_msg`` sends pynetdicom's way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from pynetdicom import dimse_messages, dimse_primitives, evt, fsm
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu_primitives import P_DATA

from dimse import commandsets, statuses

DATA_SET_PRESENT = 0x0001  # PS3.7 E.1: Command Data Set Type (as pynetdicom writes it)
NO_DATA_SET = 0x0101
# The messages written here (primitive class → message type and the request's Command Field;
# a response's is that | 0x8000, PS3.7 E.1); the keys of each, as pynetdicom lists them
# (PS3.7 9.3), are read from pynetdicom's own table.
MESSAGES = {
    dimse_primitives.C_ECHO: ("C-ECHO", 0x0030),
    dimse_primitives.C_FIND: ("C-FIND", 0x0020),
    dimse_primitives.C_STORE: ("C-STORE", 0x0001),
}
RESPONSE = 0x8000
_PDU_HEADER = struct.Struct(">BBI")  # PS3.8 9.3.5: type 04H, reserved, length
_PDV_HEADER = struct.Struct(">IBB")  # PS3.8 9.3.5.1 / E.2: length, context ID, control header
_P_DATA_TF = 0x04
COMMAND, LAST = 0x01, 0x02  # message control header bits (PS3.8 E.2)
FLUSH_BYTES = 256 * 1024
"""Pending responses are handed to the DUL once this much is waiting, so a large answer set
is written as it is encoded, never held whole."""


class EncodedPData(P_DATA):
    """A P-DATA request whose P-DATA-TF PDUs (one or more) are encoded already."""

    def __init__(self, encoded: bytes) -> None:
        super().__init__()
        self.encoded = encoded


def fragments(data: bytes, context_id: int, command: bool, max_pdu: int) -> Iterator[bytes]:
    """``data`` (a command set or data set) as P-DATA-TF PDUs of one PDV each, split as
    pynetdicom splits a message for a peer whose maximum PDU length is ``max_pdu`` (0: no
    limit); the last carries the "last fragment" bit."""
    size = max(1, max_pdu - 6) if max_pdu else max(1, len(data))
    starts = range(0, max(1, len(data)), size)
    last = starts[-1]
    for start in starts:
        chunk = data[start : start + size]
        control = (COMMAND if command else 0) | (LAST if start == last else 0)
        yield _PDU_HEADER.pack(_P_DATA_TF, 0, len(chunk) + 6)
        yield _PDV_HEADER.pack(len(chunk) + 2, context_id, control) + chunk


class PendingAnswers:
    """The pending responses of one C-FIND request, written straight to the DUL's queue
    (``send``: ``DULServiceProvider.send_pdu``) for a peer whose maximum PDU length is
    ``max_pdu`` (0: no limit)."""

    def __init__(
        self,
        send: Callable[[P_DATA], None],
        context_id: int,
        max_pdu: int,
        sop_class_uid: str,
        message_id: int,
    ) -> None:
        self._send = send
        pending = dimse_primitives.C_FIND()
        pending.MessageIDBeingRespondedTo = message_id
        pending.AffectedSOPClassUID = sop_class_uid
        pending.Status = statuses.PENDING
        field = MESSAGES[dimse_primitives.C_FIND][1] | RESPONSE
        command = _command_set(pending, "C-FIND-RSP", field, True)
        self._context_id = context_id
        self._max_pdu = max_pdu
        self._command = b"".join(fragments(command, context_id, True, max_pdu))
        self._waiting = bytearray()

    @classmethod
    def of(cls, event: Any) -> PendingAnswers:
        """For pynetdicom's ``EVT_C_FIND`` ``event``, on its association and context."""
        assoc, request = event.assoc, event.request
        return cls(
            assoc.dul.send_pdu,
            int(event.context.context_id),
            int(assoc.dimse.maximum_pdu_size or 0),
            str(request.AffectedSOPClassUID),
            int(request.MessageID),
        )

    def add(self, identifier: bytes) -> None:
        """Queue a pending response with ``identifier`` (encoded in the context's syntax)."""
        self._waiting += self._command
        for part in fragments(identifier, self._context_id, False, self._max_pdu):
            self._waiting += part
        if len(self._waiting) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Hand what waits to the DUL: before anything pynetdicom queues after this call."""
        if self._waiting:
            self._send(EncodedPData(bytes(self._waiting)))
            self._waiting.clear()

    def drop(self) -> None:
        """Forget what waits (the request was cancelled: those matches are not sent)."""
        self._waiting.clear()


def message_pdus(primitive: Any, context_id: int, max_pdu: int) -> bytes | None:
    """The PDUs of a C-ECHO, C-FIND or C-STORE request or response whose data set (if any) is
    in memory, byte for byte what pynetdicom sends for it; None for any other message (a data
    set sent from a file, a value ``commandsets`` leaves to pydicom)."""
    kind = MESSAGES.get(type(primitive))
    if kind is None or getattr(primitive, "_dataset_path", None):
        return None
    base, field = kind
    if primitive.MessageIDBeingRespondedTo is None:
        name = f"{base}-RQ"
    else:
        name, field = f"{base}-RSP", field | RESPONSE
    # pynetdicom's rule: a data set object present, even an empty one, is announced
    data_set = getattr(primitive, DATA_SET_KEYWORD.get(name, ""), None)
    try:
        command = _command_set(primitive, name, field, bool(data_set))
    except ValueError:
        return None
    encoded = b"".join(fragments(command, context_id, True, max_pdu))
    data = data_set.getvalue() if data_set else b""
    return encoded + b"".join(fragments(data, context_id, False, max_pdu)) if data else encoded


def _command_set(primitive: Any, name: str, command_field: int, with_data_set: bool) -> bytes:
    """The command set pynetdicom makes of ``primitive`` as message type ``name``; raises
    ``ValueError`` for a value ``commandsets`` leaves to pydicom."""
    elements = []
    for keyword, element, vr in commandsets.keys(name):
        if keyword == "CommandField":
            value: Any = command_field
        elif keyword == "CommandDataSetType":
            value = DATA_SET_PRESENT if with_data_set else NO_DATA_SET
        elif hasattr(primitive, keyword):
            value = getattr(primitive, keyword)
            if value is None:
                continue  # left out, as pynetdicom leaves it out
        else:
            value = None  # written empty, as pynetdicom writes it
        elements.append((element, vr, value))
    return commandsets.command(elements)


DATA_SET_KEYWORD = {
    name.replace("_", "-"): keyword for name, keyword in dimse_messages._DATASET_KEYWORDS.items()
}
"""Message type (``"C-FIND-RSP"``) → the primitive's attribute holding its data set."""


def install() -> None:
    """Have the DUL's state machine write an ``EncodedPData``'s bytes as they are, and
    pynetdicom send the messages ``message_pdus`` writes that way."""
    send_msg = DIMSEServiceProvider.send_msg
    if not getattr(send_msg, "writes_messages", False):

        def send_message(provider: DIMSEServiceProvider, primitive: Any, context_id: int) -> None:
            data = None
            if not provider.assoc.get_handlers(evt.EVT_DIMSE_SENT):  # else: logged as sent
                data = message_pdus(primitive, context_id, provider.maximum_pdu_size or 0)
            if data is None:
                send_msg(provider, primitive, context_id)
            else:
                provider.dul.send_pdu(EncodedPData(data))

        send_message.writes_messages = True  # type: ignore[attr-defined]
        DIMSEServiceProvider.send_msg = send_message  # type: ignore[method-assign,assignment]
    for name in ("DT-1", "AR-7"):
        description, action, next_state = fsm.ACTIONS[name]
        if not getattr(action, "writes_encoded", False):
            written = _writing(action, str(next_state))
            # the table's type names each action's parameter ``dul``; ours takes it alike
            fsm.ACTIONS[name] = (description, written, next_state)  # type: ignore[assignment]


def _writing(
    action: Callable[[DULServiceProvider], str], next_state: str
) -> Callable[[DULServiceProvider], str]:
    def act(dul: DULServiceProvider) -> str:
        primitive = dul.to_provider_queue.queue[0]
        if not isinstance(primitive, EncodedPData):
            return action(dul)
        dul.to_provider_queue.get(False)
        if dul.socket is not None:
            dul.socket.send(primitive.encoded)
        return next_state

    act.writes_encoded = True  # type: ignore[attr-defined]
    return act
