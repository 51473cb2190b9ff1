"""Received C-ECHO and C-FIND messages, and C-STORE responses, read straight into primitives.

pynetdicom reads every message it receives the same way: the command set's bytes decoded by
pydicom's general reader into a data set of converted, validated elements, that data set
walked element by element to fill the message's primitive. For C-FIND that costs more CPU
than anything else per response at the SCU (each pending answer carries a command set) and per
request at the SCP, on the thread that reads the socket.

A command set is always Implicit VR Little Endian (PS3.7 6.3.1) and, for these messages, holds
only numbers, UIDs, AE titles and short texts of group 0000. ``install``'s
``receive_primitive`` reads such a command set directly into the message's primitive, setting
the same attributes through the same setters with the values pydicom would have given them,
and gathers the data set's fragments as pynetdicom does. Anything else is left to pynetdicom,
whole: a command set split over several fragments, a value these rules do not cover (empty,
multi-valued, not ASCII, an element the message does not list), any other message (C-STORE,
C-MOVE and C-GET requests, C-CANCEL, the N- services), and every message on an association
with a handler bound to ``EVT_DIMSE_RECV`` (pynetdicom's logging of each message at INFO or
DEBUG), which is handed pynetdicom's message object.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

from pynetdicom import dimse_messages, evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.pdu_primitives import P_DATA

from dimse import commandsets
from dimse.pdus import COMMAND, DATA_SET_KEYWORD, LAST, MESSAGES, NO_DATA_SET

_US = struct.Struct("<H")
_COMMAND_FIELD, _DATA_SET_TYPE, _GROUP_LENGTH = 0x0100, 0x0800, 0x0000
# The messages read here; their Command Fields (PS3.7 E.1) from pynetdicom's own table
_DIRECT = frozenset({"C-ECHO-RQ", "C-ECHO-RSP", "C-FIND-RQ", "C-FIND-RSP", "C-STORE-RSP"})
_READ = {
    field: name for field, (name, _) in dimse_messages._MESSAGE_TYPES.items() if name in _DIRECT
}
_PRIMITIVES = {base: primitive for primitive, (base, _) in MESSAGES.items()}


def _text(data: bytes) -> str | None:
    """ASCII text of one value (no backslash: pydicom would make it several), or None."""
    if not data.isascii() or b"\\" in data:
        return None
    return data.decode("ascii")


def _value(vr: str, data: bytes) -> Any:
    """The value pydicom reads from ``data`` for ``vr`` (PS3.5 6.2), or None for one these
    rules leave to pydicom."""
    if not data:
        return None
    if vr == "US":
        return _US.unpack(data)[0] if len(data) == 2 else None
    text = _text(data)
    if text is None:
        return None
    if vr == "UI" or vr == "LO":
        return text.rstrip("\0 ")
    if vr == "AE":
        return text.strip()
    return None


_KEYWORDS = {
    name: {element: (keyword, vr) for keyword, element, vr in commandsets.keys(name)}
    for name in _READ.values()
}
"""Message type → element number → (keyword, VR) of its command set keys."""


class Reading:
    """A message whose command set was read: its primitive, and its data set so far."""

    __slots__ = ("data_set", "expects_data_set", "primitive")

    def __init__(self, primitive: Any, expects_data_set: bool) -> None:
        self.primitive = primitive
        self.data_set = BytesIO()
        self.expects_data_set = expects_data_set


def read_command(command_set: bytes, context_id: int) -> Reading | None:
    """The primitive of a whole command set, as pynetdicom would fill it, or None when
    ``command_set`` is anything this module leaves to pynetdicom."""
    elements: dict[int, bytes] = {}
    at, end = 0, len(command_set)
    while at < end:
        if at + 8 > end:
            return None
        group, element, length = commandsets.TAG_AND_LENGTH.unpack_from(command_set, at)
        at += 8
        if group or at + length > end:
            return None
        elements[element] = command_set[at : at + length]
        at += length
    field, data_set_type = elements.get(_COMMAND_FIELD), elements.get(_DATA_SET_TYPE)
    if field is None or data_set_type is None or len(field) != 2 or len(data_set_type) != 2:
        return None
    name = _READ.get(_US.unpack(field)[0])
    if name is None:
        return None
    primitive = _PRIMITIVES[name[: name.rindex("-")]]()
    keys = _KEYWORDS[name]
    for element, data in elements.items():
        if element in (_GROUP_LENGTH, _COMMAND_FIELD, _DATA_SET_TYPE):
            continue  # not attributes of the primitive
        key = keys.get(element)
        if key is None:
            return None
        keyword, vr = key
        value = _value(vr, data)
        if value is None:
            return None
        try:
            setattr(primitive, keyword, value)
        except (TypeError, ValueError):  # pynetdicom's setter refuses it: pynetdicom says so
            return None
    primitive._context_id = context_id
    primitive._dataset_path = None
    primitive._dataset_file = None
    reading = Reading(primitive, _US.unpack(data_set_type)[0] != NO_DATA_SET)
    data_set_keyword = DATA_SET_KEYWORD.get(name)
    if data_set_keyword is not None:
        setattr(primitive, data_set_keyword, reading.data_set)
    return reading


def _deliver(provider: DIMSEServiceProvider, reading: Reading) -> None:
    primitive = reading.primitive
    provider.msg_queue.put((primitive._context_id, primitive))


def install() -> None:
    """Have pynetdicom read the messages ``read_command`` reads that way."""
    receive = DIMSEServiceProvider.receive_primitive
    if getattr(receive, "reads_directly", False):
        return

    def receive_primitive(provider: DIMSEServiceProvider, primitive: P_DATA) -> None:
        reading: Reading | None = getattr(provider, "_reading", None)
        values = primitive.presentation_data_value_list
        if reading is None:
            if provider.message is not None or not values:  # pynetdicom is reading one
                receive(provider, primitive)
                return
            context_id, first = values[0]
            if first[0] & (COMMAND | LAST) != COMMAND | LAST or provider.assoc.get_handlers(
                evt.EVT_DIMSE_RECV
            ):
                receive(provider, primitive)
                return
            reading = read_command(first[1:], context_id)
            if reading is None:
                receive(provider, primitive)
                return
            values = values[1:]
            if not reading.expects_data_set:
                _deliver(provider, reading)
                reading = None
        for at, (_, data) in enumerate(values):
            if reading is None or data[0] & COMMAND:  # not a fragment of this message
                provider._reading = None  # type: ignore[attr-defined]
                rest = P_DATA()
                rest.presentation_data_value_list = values[at:]
                receive_primitive(provider, rest)
                return
            reading.data_set.write(data[1:])
            if data[0] & LAST:
                _deliver(provider, reading)
                reading = None
        provider._reading = reading  # type: ignore[attr-defined]

    receive_primitive.reads_directly = True  # type: ignore[attr-defined]
    DIMSEServiceProvider.receive_primitive = receive_primitive  # type: ignore[method-assign,assignment]
