"""``dimse.pdus``: pending C-FIND responses and responses without a data set, written as ready
PDUs, are byte for byte what pynetdicom sends for them, fragmented alike; pending responses
are handed on in bounded pieces, and a real peer reads them, in order, among the responses
pynetdicom still sends itself."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE, build_context, dimse_primitives, evt
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from dimse import answers, pdus, statuses
from tests.dimse_messages import (
    FIND,
    pdus_sent_by_pynetdicom,
    request,
    response,
    stored,
)


def _identifier(number: int) -> bytes:
    document = {
        "00080052": {"vr": "CS", "Value": ["STUDY"]},
        "00100020": {"vr": "LO", "Value": [f"PATIENT-{number}"]},
        "0020000D": {"vr": "UI", "Value": [f"1.2.3.{number}"]},
    }
    data = answers.encoded(document, implicit=True)
    assert data is not None
    return data


def _pynetdicom_pdus(identifier: bytes, context_id: int, max_pdu: int) -> bytes:
    pending = response(dimse_primitives.C_FIND(), statuses.PENDING, MessageIDBeingRespondedTo=7)
    pending.Identifier = BytesIO(identifier)
    return pdus_sent_by_pynetdicom(pending, context_id, max_pdu)


@pytest.mark.parametrize("max_pdu", [0, 16382, 40])
def test_pending_responses_are_the_pdus_pynetdicom_sends(max_pdu: int) -> None:
    sent: list[P_DATA] = []
    pending = pdus.PendingAnswers(sent.append, 3, max_pdu, FIND, 7)
    for number in (1, 22, 333):
        pending.add(_identifier(number))
    assert not sent  # nothing handed on before ``flush``
    pending.flush()
    expected = b"".join(_pynetdicom_pdus(_identifier(n), 3, max_pdu) for n in (1, 22, 333))
    assert len(sent) == 1 and isinstance(sent[0], pdus.EncodedPData)
    assert sent[0].encoded == expected


def test_a_large_answer_set_is_handed_on_in_bounded_pieces_and_a_drop_forgets_the_rest() -> None:
    sent: list[P_DATA] = []
    pending = pdus.PendingAnswers(sent.append, 1, 16382, FIND, 1)
    identifier = _identifier(1)
    while not sent:
        pending.add(identifier)
    assert pdus.FLUSH_BYTES <= len(sent[0].encoded) < pdus.FLUSH_BYTES + 2 * len(identifier) + 200
    pending.add(identifier)
    pending.drop()
    pending.flush()
    assert len(sent) == 1


def _with_identifier(primitive: Any) -> Any:
    primitive.Identifier = BytesIO(_identifier(1))
    return primitive


@pytest.mark.parametrize(
    "primitive",
    [
        response(dimse_primitives.C_FIND(), statuses.SUCCESS),
        response(dimse_primitives.C_FIND(), statuses.CANCEL),
        response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS, "no such level"),
        response(dimse_primitives.C_ECHO(), statuses.SUCCESS),
        stored(statuses.SUCCESS),
        stored(statuses.DATASET_DOES_NOT_MATCH_SOP_CLASS, "no Study Instance UID"),
        response(_with_identifier(dimse_primitives.C_FIND()), statuses.PENDING),
        request(dimse_primitives.C_ECHO()),
        request(dimse_primitives.C_FIND(), _identifier(5)),
        request(dimse_primitives.C_FIND()),
        request(dimse_primitives.C_STORE(), b"\x08\x00\x16\x00" + bytes(700)),
    ],
    ids=[
        "find-success", "find-cancel", "find-failure", "echo", "store", "store-failure",
        "find-pending", "echo-request", "find-request", "find-request-empty", "store-request",
    ],
)  # fmt: skip
@pytest.mark.parametrize("max_pdu", [0, 16382, 40])
def test_messages_with_a_data_set_in_memory_or_none_are_the_pdus_pynetdicom_sends(
    primitive: Any, max_pdu: int
) -> None:
    assert pdus.message_pdus(primitive, 9, max_pdu) == pdus_sent_by_pynetdicom(
        primitive, 9, max_pdu
    )


def test_other_messages_are_left_to_pynetdicom(tmp_path: Path) -> None:
    from_a_file = request(dimse_primitives.C_STORE())
    from_a_file._dataset_path = (tmp_path / "instance.dcm", 0)
    assert pdus.message_pdus(from_a_file, 1, 0) is None
    moved = response(dimse_primitives.C_MOVE(), statuses.SUCCESS)
    assert pdus.message_pdus(moved, 1, 0) is None
    with_tag_list = response(dimse_primitives.C_FIND(), statuses.UNABLE_TO_PROCESS)
    with_tag_list.OffendingElement = [0x00100010]
    assert pdus.message_pdus(with_tag_list, 1, 0) is None


@pytest.fixture
def finder() -> Iterator[int]:
    """A pynetdicom C-FIND SCP on loopback answering ``PatientID`` = N with N matches: written
    by ``PendingAnswers``, but every third match yielded to pynetdicom as a data set."""
    pdus.install()

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        pending = pdus.PendingAnswers.of(event)
        for number in range(int(event.identifier.PatientID)):
            if number % 3 == 2:
                pending.flush()
                answer = Dataset()
                answer.QueryRetrieveLevel = "STUDY"
                answer.PatientID = f"PATIENT-{number}"
                answer.StudyInstanceUID = f"1.2.3.{number}"
                yield statuses.PENDING, answer
            else:
                pending.add(_identifier(number))
        pending.flush()
        yield statuses.SUCCESS, None

    ae = AE(ae_title="FINDER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind, ImplicitVRLittleEndian)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)]
    )
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@pytest.mark.parametrize("max_pdu", [0, 64])
def test_a_real_peer_reads_every_answer_in_order(finder: int, max_pdu: int) -> None:
    ae = AE(ae_title="ASKER")
    ae.requested_contexts = [
        build_context(StudyRootQueryRetrieveInformationModelFind, ImplicitVRLittleEndian)
    ]
    assoc = ae.associate("127.0.0.1", finder, ae_title="FINDER", max_pdu=max_pdu)
    assert assoc.is_established
    try:
        for count in (0, 1, 7):
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.PatientID = str(count)
            query.StudyInstanceUID = ""
            responses = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
            pending = [(int(s.Status), a) for s, a in responses[:-1]]
            assert [status for status, _ in pending] == [statuses.PENDING] * count
            assert [a.PatientID for _, a in pending] == [f"PATIENT-{n}" for n in range(count)]
            assert int(responses[-1][0].Status) == statuses.SUCCESS
    finally:
        assoc.release()
