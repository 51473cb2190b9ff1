"""C-MOVE and C-GET against the launched stack, with pynetdicom as the SCU and as the move
destination: what arrives is what was stored (the same data elements, the same pixel data
bytes when the destination takes the stored syntax, the same pixels when it takes only
uncompressed ones), with pending responses and sub-operation counts; each retrieve audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless
from pynetdicom import build_context, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from dicomstack.ports import free_ports
from dicomstack.stack import Stack
from dimse import statuses
from tests import instances
from tests.integration import dimse_peers
from tests.integration.dimse_peers import DIMSE_MARKS, StorageScp, associate, storage_scp
from tests.polling import eventually

pytestmark = DIMSE_MARKS

MOVE, GET = StudyRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelGet
PATIENT_MOVE = PatientRootQueryRetrieveInformationModelMove


@dataclass
class Destinations:
    anything: StorageScp  # accepts every transfer syntax
    uncompressed: StorageScp  # accepts only native little endian


@pytest.fixture(scope="module")
def destinations(stack: Stack) -> Iterator[Destinations]:
    first, second = free_ports("127.0.0.1", 2)
    with (
        storage_scp("ANYSCP", first) as anything,
        storage_scp("PLAINSCP", second, uncompressed_only=True) as plain,
        dimse_peers.remote_aes(stack, {"ANYSCP": first, "PLAINSCP": second}),
    ):
        yield Destinations(anything, plain)


@pytest.fixture(scope="module")
def stored(stack: Stack) -> list[Dataset]:
    """A study of a native CT and an RLE-compressed MR, stored by STOW; as stored."""
    ct = instances.fresh()
    mr = instances.fresh("MR_small_RLE.dcm", study=ct.StudyInstanceUID)
    found = []
    for ds in (ct, mr):
        body = instances.to_bytes(ds)
        assert instances.store(stack.dicomweb_url, body).status_code == 200
        found.append(pydicom.dcmread(pydicom.filebase.DicomBytesIO(body)))
    return found


def _identifier(level: str, **keys: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    return identifier


def _move(stack: Stack, identifier: Dataset, destination: str) -> list[Dataset]:
    assoc = associate(stack.dimse_address, "MOVER", [build_context(MOVE)])
    assert assoc.is_established
    try:
        return [status for status, _ in assoc.send_c_move(identifier, destination, MOVE)]
    finally:
        assoc.release()


def _same_instance(received: Dataset, original: Dataset) -> None:
    assert received.SOPInstanceUID == original.SOPInstanceUID
    assert set(received.keys()) == set(original.keys())
    for element in original:
        assert received[element.tag].value == element.value, element.keyword


def test_c_move_sends_every_instance_as_stored_with_pending_counts(
    stack: Stack, destinations: Destinations, stored: list[Dataset]
) -> None:
    study = stored[0].StudyInstanceUID
    responses = _move(stack, _identifier("STUDY", StudyInstanceUID=study), "ANYSCP")
    *pending, final = responses
    assert [int(s.Status) for s in pending] == [statuses.PENDING] * 2
    assert [s.NumberOfRemainingSuboperations for s in pending] == [1, 0]
    assert int(final.Status) == statuses.SUCCESS
    assert final.NumberOfCompletedSuboperations == 2
    received = {ds.SOPInstanceUID: ds for ds in destinations.anything.received}
    for original in stored:
        arrived = received[original.SOPInstanceUID]
        assert arrived.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        _same_instance(arrived, original)  # the RLE pixel data byte for byte


def test_c_move_to_an_uncompressed_only_destination_transcodes(
    stack: Stack, destinations: Destinations, stored: list[Dataset]
) -> None:
    mr = stored[1]
    assert mr.file_meta.TransferSyntaxUID == RLELossless
    identifier = _identifier(
        "SERIES", StudyInstanceUID=mr.StudyInstanceUID, SeriesInstanceUID=mr.SeriesInstanceUID
    )
    assert int(_move(stack, identifier, "PLAINSCP")[-1].Status) == statuses.SUCCESS
    [arrived] = [
        ds for ds in destinations.uncompressed.received if ds.SOPInstanceUID == mr.SOPInstanceUID
    ]
    syntax = arrived.file_meta.TransferSyntaxUID
    assert syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert (arrived.pixel_array == mr.pixel_array).all()  # lossless: the same pixels
    assert arrived.PatientID == mr.PatientID and arrived.Rows == mr.Rows


def test_c_move_at_the_patient_level_sends_every_study_of_the_patient(
    stack: Stack, destinations: Destinations
) -> None:
    first = instances.fresh()
    second = instances.fresh("MR_small.dcm", patient_id=first.PatientID)
    for ds in (first, second):
        assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    assoc = associate(stack.dimse_address, "MOVER", [build_context(PATIENT_MOVE)])
    assert assoc.is_established
    try:
        identifier = _identifier("PATIENT", PatientID=first.PatientID)
        *_, (final, _) = list(assoc.send_c_move(identifier, "ANYSCP", PATIENT_MOVE))
    finally:
        assoc.release()
    assert int(final.Status) == statuses.SUCCESS
    assert final.NumberOfCompletedSuboperations == 2
    received = {ds.SOPInstanceUID for ds in destinations.anything.received}
    assert {first.SOPInstanceUID, second.SOPInstanceUID} <= received


def test_remote_aes_may_come_from_a_file(
    stack: Stack, stored: list[Dataset], tmp_path: Path
) -> None:
    [port] = free_ports("127.0.0.1", 1)
    table = tmp_path / "remote-aes.json"
    table.write_text(json.dumps({"FILESCP": {"host": "127.0.0.1", "port": port}}))
    with (
        storage_scp("FILESCP", port) as destination,
        dimse_peers.own_listener(stack, remote_aes_file=table) as address,
    ):
        assoc = associate(address, "MOVER", [build_context(MOVE)])
        assert assoc.is_established
        try:
            identifier = _identifier("STUDY", StudyInstanceUID=stored[0].StudyInstanceUID)
            *_, (final, _) = list(assoc.send_c_move(identifier, "FILESCP", MOVE))
        finally:
            assoc.release()
    assert int(final.Status) == statuses.SUCCESS
    assert {ds.SOPInstanceUID for ds in destination.received} == {
        ds.SOPInstanceUID for ds in stored
    }


def test_c_move_to_an_unknown_destination_is_refused(
    stack: Stack, destinations: Destinations, stored: list[Dataset]
) -> None:
    identifier = _identifier("STUDY", StudyInstanceUID=stored[0].StudyInstanceUID)
    [final] = _move(stack, identifier, "NOWHERE")
    assert int(final.Status) == statuses.UNKNOWN_DESTINATION


def test_c_move_without_the_unique_key_of_its_level_fails(
    stack: Stack, destinations: Destinations, stored: list[Dataset]
) -> None:
    identifier = _identifier("IMAGE", StudyInstanceUID=stored[0].StudyInstanceUID)
    *_, final = _move(stack, identifier, "ANYSCP")  # no SOP Instance UID
    assert int(final.Status) == statuses.IDENTIFIER_DOES_NOT_MATCH


def test_c_get_returns_the_instances_on_the_same_association(
    stack: Stack, stored: list[Dataset]
) -> None:
    received: list[Dataset] = []

    def on_c_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return statuses.SUCCESS

    contexts = [build_context(GET), build_context(CTImageStorage)]
    contexts += [build_context(MRImageStorage, [s]) for s in (RLELossless, ExplicitVRLittleEndian)]
    roles = [build_role(c, scp_role=True) for c in (CTImageStorage, MRImageStorage)]
    assoc = associate(
        stack.dimse_address,
        "GETTER",
        contexts,
        ext_neg=roles,
        evt_handlers=[(evt.EVT_C_STORE, on_c_store)],
    )
    assert assoc.is_established
    identifier = _identifier(
        "IMAGE",
        StudyInstanceUID=stored[0].StudyInstanceUID,
        SOPInstanceUID="\\".join(ds.SOPInstanceUID for ds in stored),
    )
    try:
        *_, (final, _) = list(assoc.send_c_get(identifier, GET))
    finally:
        assoc.release()
    assert int(final.Status) == statuses.SUCCESS
    assert final.NumberOfCompletedSuboperations == 2
    by_uid = {ds.SOPInstanceUID: ds for ds in received}
    for original in stored:
        _same_instance(by_uid[original.SOPInstanceUID], original)


def test_each_retrieve_is_audited_with_the_calling_ae_and_the_instances(
    stack: Stack, destinations: Destinations, stored: list[Dataset]
) -> None:
    study = stored[0].StudyInstanceUID

    started = datetime.now(UTC).isoformat()  # the module's other moves of this study end before

    def moves() -> list[dict[str, object]]:
        params = {"study": study, "action": "retrieve", "user": "MOVER", "from": started}
        response = httpx.get(f"{stack.dicomweb_url}/audit", params=params, timeout=30)
        return [e for e in response.json() if e["method"] == "C-MOVE"]

    _move(stack, _identifier("STUDY", StudyInstanceUID=study), "ANYSCP")
    assert eventually(lambda: len(moves()) >= 1)
    [event] = moves()
    assert event["service"] == "dimse" and event["client_address"] == "127.0.0.1"
    assert event["instance_count"] == 2 and event["outcome"] == "success"
    assert set(event["instance_uids"]) == {ds.SOPInstanceUID for ds in stored}  # type: ignore[arg-type]
