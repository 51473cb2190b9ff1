"""DIMSE message primitives for the tests of ``dimse.pdus`` and ``dimse.incoming``, and what
pynetdicom itself makes of them: the reference both modules are held to."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pynetdicom import dimse, dimse_primitives
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
CT = "1.2.840.10008.5.1.4.1.1.2"


def request(primitive: Any, data_set: bytes | None = None) -> Any:
    """``primitive`` (C-ECHO, C-FIND or C-STORE) as a request; C-FIND and C-STORE carry
    ``data_set`` (none given: an empty one)."""
    primitive.MessageID = 11
    primitive.AffectedSOPClassUID = FIND
    if isinstance(primitive, dimse_primitives.C_FIND):
        primitive.Priority = 2
        primitive.Identifier = BytesIO(data_set or b"")
    elif isinstance(primitive, dimse_primitives.C_STORE):
        primitive.Priority = 0
        primitive.AffectedSOPClassUID = CT
        primitive.AffectedSOPInstanceUID = "1.2.3.4.567"
        primitive.MoveOriginatorApplicationEntityTitle = "MOVER"
        primitive.MoveOriginatorMessageID = 4
        primitive.DataSet = BytesIO(data_set or b"")
    return primitive


def response(primitive: Any, status: int, comment: str | None = None, **more: Any) -> Any:
    """``primitive`` as a response with ``status``, an error comment and ``more`` attributes."""
    primitive.MessageIDBeingRespondedTo = 5
    primitive.AffectedSOPClassUID = FIND
    primitive.Status = status
    if comment is not None:
        primitive.ErrorComment = comment
    for keyword, value in more.items():
        setattr(primitive, keyword, value)
    return primitive


def stored(status: int, comment: str | None = None) -> Any:
    """A C-STORE response."""
    primitive = response(dimse_primitives.C_STORE(), status, comment)
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.567"  # odd length: padded
    return primitive


def sent_by_pynetdicom(primitive: Any, context_id: int = 1, max_pdu: int = 0) -> list[P_DATA]:
    """What pynetdicom sends for ``primitive``: the P-DATA primitives its peer receives."""
    responding = primitive.MessageIDBeingRespondedTo is not None
    message = (dimse._RSP_TO_MESSAGE if responding else dimse._RQ_TO_MESSAGE)[type(primitive)]()
    message.primitive_to_message(primitive)
    return list(message.encode_msg(context_id, max_pdu))


def pdus_sent_by_pynetdicom(primitive: Any, context_id: int, max_pdu: int) -> bytes:
    """What pynetdicom writes to the socket for ``primitive``."""
    return b"".join(
        P_DATA_TF(p).encode() for p in sent_by_pynetdicom(primitive, context_id, max_pdu)
    )
