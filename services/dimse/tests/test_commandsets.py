"""``dimse.commandsets``: the command sets pynetdicom sends, encoded directly, are byte for byte
what pydicom's writer makes of them; anything else is left to pydicom."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dsutils import encode as pydicom_encode

from dimse import commandsets

_CT = "1.2.840.10008.5.1.4.1.1.2"
_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def _find_rsp() -> Any:
    primitive = dimse_primitives.C_FIND()
    primitive.MessageIDBeingRespondedTo = 7
    primitive.AffectedSOPClassUID = _FIND
    primitive.Status = 0xFF00
    return primitive, dimse_messages.C_FIND_RSP()


def _store_rq() -> Any:
    primitive = dimse_primitives.C_STORE()
    primitive.MessageID = 65535
    primitive.AffectedSOPClassUID = _CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"  # odd length: padded with NUL
    primitive.Priority = 2
    primitive.MoveOriginatorApplicationEntityTitle = "MOVER"  # odd length: padded with space
    primitive.MoveOriginatorMessageID = 3
    return primitive, dimse_messages.C_STORE_RQ()


def _store_rsp() -> Any:
    primitive = dimse_primitives.C_STORE()
    primitive.MessageIDBeingRespondedTo = 1
    primitive.AffectedSOPClassUID = _CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.56"
    primitive.Status = 0xA900
    primitive.ErrorComment = "no Study Instance UID"  # type: ignore[assignment]
    return primitive, dimse_messages.C_STORE_RSP()


def _move_rsp() -> Any:
    primitive = dimse_primitives.C_MOVE()
    primitive.MessageIDBeingRespondedTo = 2
    primitive.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.2"
    primitive.Status = 0xFF00
    primitive.NumberOfRemainingSuboperations = 10
    primitive.NumberOfCompletedSuboperations = 70000 % 65536
    primitive.NumberOfFailedSuboperations = 0
    primitive.NumberOfWarningSuboperations = 0
    return primitive, dimse_messages.C_MOVE_RSP()


@pytest.mark.parametrize("build", [_find_rsp, _store_rq, _store_rsp, _move_rsp])
def test_command_sets_encode_as_pydicom_writes_them(build: Any) -> None:
    primitive, message = build()
    message.primitive_to_message(primitive)
    command_set = message.command_set
    assert commandsets.encoded(command_set) == pydicom_encode(command_set, True, True)


def test_other_elements_are_left_to_pydicom() -> None:
    with_tag_list = Dataset()
    with_tag_list.CommandField = 0x8020
    with_tag_list.OffendingElement = [0x00100010, 0x00100020]  # AT, two values
    assert commandsets.encoded(with_tag_list) is None
    outside_group = Dataset()
    outside_group.PatientID = "1"
    assert commandsets.encoded(outside_group) is None


def test_installed_pynetdicom_sends_the_same_bytes() -> None:
    commandsets.install()
    commandsets.install()  # idempotent
    primitive, message = _store_rsp()
    message.primitive_to_message(primitive)
    [pdata] = list(message.encode_msg(1, 16384))
    [(_, pdv)] = pdata.presentation_data_value_list
    assert pdv[1:] == pydicom_encode(message.command_set, True, True)
