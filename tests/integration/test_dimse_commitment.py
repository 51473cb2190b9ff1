"""Storage commitment (push model) against the launched stack: the N-EVENT-REPORT lists what
the archive holds as committed and the rest as failed with its reason, on the requesting
association, or on a new one to the requesting AE when it is not taken there."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_context, evt
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from dicomstack.ports import free_ports
from dicomstack.stack import Stack
from dimse import statuses
from dimse.commitment import ALL_COMMITTED, SOME_FAILED, WELL_KNOWN_INSTANCE
from tests import instances
from tests.integration import dimse_peers
from tests.integration.dimse_peers import DIMSE_MARKS, associate

pytestmark = DIMSE_MARKS

_MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


class Reports:
    """N-EVENT-REPORTs received, by Transaction UID."""

    def __init__(self) -> None:
        self.received: dict[str, tuple[int, Dataset]] = {}
        self.arrived = threading.Condition()

    def on_n_event_report(self, event: evt.Event) -> tuple[int, None]:
        info = event.event_information
        with self.arrived:
            self.received[str(info.TransactionUID)] = (event.event_type, info)
            self.arrived.notify_all()
        return statuses.SUCCESS, None

    def wait(self, transaction: str, seconds: float = 60) -> tuple[int, Dataset]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: transaction in self.received, seconds)
            return self.received[transaction]


@pytest.fixture(scope="module")
def modality(stack: Stack) -> Iterator[tuple[Reports, int]]:
    """A modality's own SCP (it takes reports on new associations) and the stack knowing it."""
    [port] = free_ports("127.0.0.1", 1)
    reports = Reports()
    ae = AE(ae_title="MODALITYC")
    ae.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)
    server = ae.start_server(
        ("127.0.0.1", port),
        block=False,
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.on_n_event_report)],
    )
    try:
        with dimse_peers.remote_aes(stack, {"MODALITYC": port}):
            yield reports, port
    finally:
        server.shutdown()


def _request(references: list[tuple[str, str]]) -> tuple[str, Dataset]:
    request = Dataset()
    request.TransactionUID = generate_uid()
    request.ReferencedSOPSequence = []
    for sop_class, sop_instance in references:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, sop_instance
        request.ReferencedSOPSequence.append(item)
    return str(request.TransactionUID), request


def _ask(stack: Stack, reports: Reports, references: list[tuple[str, str]], take: bool) -> str:
    """Send the N-ACTION and wait for the report on this association: take it, or refuse it
    (``take=False``), so that only a new association to the modality's own SCP delivers it."""
    transaction, request = _request(references)
    refused = threading.Event()

    def refuse(event: evt.Event) -> tuple[int, None]:
        refused.set()
        return statuses.PROCESSING_FAILURE, None

    answered = threading.Event()  # our N-EVENT-REPORT response has left: releasing is safe

    def on_sent(event: evt.Event) -> None:
        if type(event.message).__name__ == "N_EVENT_REPORT_RSP":
            answered.set()

    handler = reports.on_n_event_report if take else refuse
    assoc = associate(
        stack.dimse_address,
        "MODALITYC",
        [build_context(StorageCommitmentPushModel)],
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, handler), (evt.EVT_DIMSE_SENT, on_sent)],
    )
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, WELL_KNOWN_INSTANCE)
        assert int(status.Status) == statuses.SUCCESS
        if take:
            reports.wait(transaction)
        else:
            assert refused.wait(60)
        assert answered.wait(10)
    finally:
        assoc.release()
    return transaction


def _stored(stack: Stack) -> list[Dataset]:
    stored = [instances.fresh(), instances.fresh("MR_small.dcm")]
    for ds in stored:
        assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    return stored


def _uids(sequence: list[Dataset]) -> set[str]:
    return {str(item.ReferencedSOPInstanceUID) for item in sequence}


def test_commitment_of_stored_instances_succeeds_on_the_same_association(
    stack: Stack, modality: tuple[Reports, int]
) -> None:
    reports, _ = modality
    stored = _stored(stack)
    transaction = _ask(stack, reports, [(ds.SOPClassUID, ds.SOPInstanceUID) for ds in stored], True)
    event_type, info = reports.wait(transaction)
    assert event_type == ALL_COMMITTED
    assert _uids(info.ReferencedSOPSequence) == {ds.SOPInstanceUID for ds in stored}
    assert "FailedSOPSequence" not in info


def test_unknown_and_mismatched_instances_fail_with_their_reasons(
    stack: Stack, modality: tuple[Reports, int]
) -> None:
    reports, _ = modality
    ct, _ = _stored(stack)
    unknown = generate_uid()
    mismatched = (_MR_IMAGE, ct.SOPInstanceUID)  # held, but as a CT image
    references = [(ct.SOPClassUID, ct.SOPInstanceUID), (ct.SOPClassUID, unknown), mismatched]
    transaction = _ask(stack, reports, references, True)
    event_type, info = reports.wait(transaction)
    assert event_type == SOME_FAILED
    assert _uids(info.ReferencedSOPSequence) == {ct.SOPInstanceUID}
    reasons = {
        (str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID)): int(i.FailureReason)
        for i in info.FailedSOPSequence
    }
    assert reasons == {
        (ct.SOPClassUID, unknown): statuses.NO_SUCH_OBJECT_INSTANCE,
        mismatched: statuses.CLASS_INSTANCE_CONFLICT,
    }


def test_report_refused_on_the_requesting_association_goes_on_a_new_one(
    stack: Stack, modality: tuple[Reports, int]
) -> None:
    reports, _ = modality
    [ct, _] = _stored(stack)
    transaction = _ask(stack, reports, [(ct.SOPClassUID, ct.SOPInstanceUID)], False)
    event_type, info = reports.wait(transaction)
    assert event_type == ALL_COMMITTED
    assert _uids(info.ReferencedSOPSequence) == {ct.SOPInstanceUID}


def test_n_action_on_another_instance_is_refused(stack: Stack) -> None:
    assoc = associate(stack.dimse_address, "MODALITYC", [build_context(StorageCommitmentPushModel)])
    _, request = _request([(_MR_IMAGE, generate_uid())])
    try:
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, generate_uid())
    finally:
        assoc.release()
    assert int(status.Status) == statuses.INVALID_SOP_INSTANCE
