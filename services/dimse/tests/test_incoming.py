"""``dimse.incoming``: a command set read directly gives the primitive pynetdicom's own reading
gives, attribute for attribute; whatever the direct reading does not cover is left to
pynetdicom whole; and a real peer's messages, whole or fragmented, arrive as before."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE, _config, build_context, dimse_messages, dimse_primitives, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,  # type: ignore[attr-defined]
    Verification,  # type: ignore[attr-defined]
)

from dimse import incoming, pdus, statuses
from tests.dimse_messages import FIND, request, response, sent_by_pynetdicom, stored

_IDENTIFIER = b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY \x10\x00\x20\x00\x02\x00\x00\x00P1"
_ATTRIBUTES = (
    "MessageID", "MessageIDBeingRespondedTo", "AffectedSOPClassUID", "AffectedSOPInstanceUID",
    "Priority", "Status", "ErrorComment", "OffendingElement", "NumberOfRemainingSuboperations",
    "MoveOriginatorApplicationEntityTitle", "MoveOriginatorMessageID",
)  # fmt: skip


def _read_by_pynetdicom(primitive: Any) -> Any:
    message = dimse_messages.DIMSEMessage()
    for p_data in sent_by_pynetdicom(primitive):
        if message.decode_msg(p_data):
            return message.message_to_primitive()
    raise AssertionError("pynetdicom did not read the whole message")


def _described(primitive: Any) -> dict[str, Any]:
    described = {k: getattr(primitive, k, "absent") for k in _ATTRIBUTES}
    described["class"] = type(primitive).__name__
    for keyword in ("Identifier", "DataSet"):
        if hasattr(primitive, keyword):
            data = getattr(primitive, keyword)
            described[keyword] = None if data is None else data.getvalue()
    return described


@pytest.mark.parametrize(
    "primitive",
    [
        request(dimse_primitives.C_ECHO()),
        response(dimse_primitives.C_ECHO(), statuses.SUCCESS),
        request(dimse_primitives.C_FIND(), _IDENTIFIER),
        response(dimse_primitives.C_FIND(), statuses.SUCCESS),
        response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS, "no such level "),
        stored(statuses.SUCCESS),
        stored(statuses.DATASET_DOES_NOT_MATCH_SOP_CLASS, "no Study Instance UID"),
    ],
    ids=["echo", "echo-rsp", "find", "find-success", "find-failure", "store", "store-failure"],
)
def test_a_command_set_read_directly_fills_the_primitive_pynetdicom_fills(primitive: Any) -> None:
    first, *rest = sent_by_pynetdicom(primitive)
    context_id, command_set = first.presentation_data_value_list[0]
    reading = incoming.read_command(command_set[1:], context_id)
    assert reading is not None
    for p_data in rest:  # the data set, when there is one
        for _, fragment in p_data.presentation_data_value_list:
            reading.data_set.write(fragment[1:])
    assert reading.expects_data_set == bool(rest)
    assert _described(reading.primitive) == _described(_read_by_pynetdicom(primitive))


def _pending(primitive: Any) -> Any:
    primitive.Identifier = BytesIO(_IDENTIFIER)
    return primitive


def _cancel() -> Any:
    primitive = dimse_primitives.C_CANCEL()
    primitive.MessageIDBeingRespondedTo = 3
    return primitive


@pytest.mark.parametrize(
    "primitive",
    [
        response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS, OffendingElement=[0x10]),
        response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS, "a\\b"),
        response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS, "Ärger"),
        request(dimse_primitives.C_STORE(), _IDENTIFIER),
        _cancel(),
    ],
    ids=["tag-list", "two-comments", "not-ascii", "store-request", "cancel"],
)
def test_anything_else_is_left_to_pynetdicom(primitive: Any) -> None:
    first = sent_by_pynetdicom(primitive)[0]
    context_id, command_set = first.presentation_data_value_list[0]
    assert incoming.read_command(command_set[1:], context_id) is None


def test_an_empty_value_is_left_to_pynetdicom() -> None:
    first = sent_by_pynetdicom(_pending(response(dimse_primitives.C_FIND(), statuses.PENDING)))[0]
    context_id, command_set = first.presentation_data_value_list[0]
    emptied = command_set.replace(b"\x02\x00\x1c\x00\x00\x00" + FIND.encode(), b"\x02\x00\0\0\0\0")
    assert emptied != command_set
    assert incoming.read_command(emptied[1:], context_id) is None


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A pynetdicom C-ECHO / C-FIND SCP on loopback, both sides reading directly (no logging
    handlers bound, as ``dimse.scp`` binds none above INFO): ``PatientID`` N is answered by N
    matches, "fail" by a failure."""
    monkeypatch.setattr(_config, "LOG_HANDLER_LEVEL", "none")
    incoming.install()
    pdus.install()

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        asked = str(event.identifier.PatientID)
        if asked == "fail":
            yield 0xC000, None
            return
        for number in range(int(asked)):
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.PatientID = f"PATIENT-{number}"
            yield statuses.PENDING, answer

    ae = AE(ae_title="FINDER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind, ImplicitVRLittleEndian)
    ae.add_supported_context(Verification, ImplicitVRLittleEndian)
    handlers = [(evt.EVT_C_FIND, on_find)]
    running = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        yield running.server_address[1]
    finally:
        running.shutdown()


@pytest.mark.parametrize("max_pdu", [0, 64])
def test_a_real_peer_is_answered_as_before(
    server: int, max_pdu: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read directly when whole (both sides), by pynetdicom when fragmented by a small PDU."""
    read = incoming.read_command
    direct: list[str] = []

    def counted(command_set: bytes, context_id: int) -> incoming.Reading | None:
        reading = read(command_set, context_id)
        if reading is not None:
            direct.append(type(reading.primitive).__name__)
        return reading

    monkeypatch.setattr(incoming, "read_command", counted)
    ae = AE(ae_title="ASKER")
    ae.requested_contexts = [
        build_context(StudyRootQueryRetrieveInformationModelFind, ImplicitVRLittleEndian),
        build_context(Verification, ImplicitVRLittleEndian),
    ]
    assoc = ae.associate("127.0.0.1", server, ae_title="FINDER", max_pdu=max_pdu)
    assert assoc.is_established
    try:
        assert int(assoc.send_c_echo().Status) == statuses.SUCCESS
        for asked in ("0", "3", "fail", "1"):
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.PatientID = asked
            responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
            found = [a.PatientID for s, a in responses if int(s.Status) == statuses.PENDING]
            if asked == "fail":
                assert (int(responses[-1][0].Status), found) == (0xC000, [])
                continue
            assert found == [f"PATIENT-{n}" for n in range(int(asked))]
            assert int(responses[-1][0].Status) == statuses.SUCCESS
    finally:
        assoc.release()
    # the server reads the echo and 4 requests; the asker the echo's reply and 4 final and
    # 4 pending responses, unless it asked for PDUs that split every command set
    expected = ["C_ECHO"] + 4 * ["C_FIND"] + (["C_ECHO"] + 8 * ["C_FIND"] if max_pdu == 0 else [])
    expected.sort()
    assert sorted(direct) == expected
