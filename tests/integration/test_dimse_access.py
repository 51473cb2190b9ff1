"""Study access groups and anonymize on store on the DIMSE path, against the session stack with
pynetdicom as the SCU: a calling AE's groups (its table entry) decide what it may store into,
find and retrieve, as a token's groups do over HTTP; C-STORE de-identifies as STOW does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset
from pynetdicom import build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelFind,
)

from dicomcommon.dicom.anonymize import anonymize_uid
from dicomcommon.settings import AnonymizeSettings, StudyGroupsSettings
from dicomstack.stack import Stack
from dimse import statuses
from tests import instances
from tests.integration import changefeed_client as feed
from tests.integration.dimse_peers import DIMSE_MARKS, associate, own_listener

pytestmark = DIMSE_MARKS

FIND, GET = StudyRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelGet
ANYTHING = ["store", "find", "move"]
CALLING_AES = {
    "CARDIO": {"permissions": ANYTHING, "groups": ["cardio"]},
    "NEURO": {"permissions": ANYTHING, "groups": ["neuro"]},
    "ROUTER": {"permissions": ["admin"]},
}
SECRET = "dimse-test-secret"


@pytest.fixture(scope="module")
def grouped(stack: Stack) -> Iterator[tuple[str, int]]:
    """A DIMSE process with study groups on, knowing three calling AEs."""
    groups = StudyGroupsSettings(enabled=True)
    with own_listener(stack, study_groups=groups, calling_aes=CALLING_AES) as address:
        yield address


def _session(address: tuple[str, int], calling: str) -> Association:
    contexts = [build_context(FIND), build_context(GET), build_context(CTImageStorage)]
    role = build_role(CTImageStorage, scu_role=True, scp_role=True)  # it stores and gets
    received: list[Dataset] = []

    def on_c_store(event: Any) -> int:
        received.append(event.dataset)
        return statuses.SUCCESS

    assoc = associate(
        address, calling, contexts, ext_neg=[role], evt_handlers=[(evt.EVT_C_STORE, on_c_store)]
    )
    assert assoc.is_established
    assoc.received = received  # type: ignore[attr-defined]
    return assoc


def _studies(assoc: Association, patient_id: str) -> set[str]:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = patient_id
    identifier.StudyInstanceUID = ""
    found = [ds for status, ds in assoc.send_c_find(identifier, FIND) if ds is not None]
    return {str(ds.StudyInstanceUID) for ds in found}


def _get_patient(assoc: Association, patient_id: str) -> int:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = patient_id
    *_, (final, _) = list(assoc.send_c_get(identifier, GET))
    assert int(final.Status) == statuses.SUCCESS
    return int(final.NumberOfCompletedSuboperations)


def test_a_calling_ae_stores_finds_and_retrieves_only_in_its_groups(
    stack: Stack, grouped: tuple[str, int]
) -> None:
    after = feed.latest_sequence(stack.dicomweb_url)
    cardio, neuro, router = (_session(grouped, t) for t in ("CARDIO", "NEURO", "ROUTER"))
    try:
        ds = instances.fresh()
        assert int(cardio.send_c_store(ds).Status) == statuses.SUCCESS
        feed.wait_for(stack.dicomweb_url, after, {ds.SOPInstanceUID})
        intruder = instances.fresh(study=ds.StudyInstanceUID, patient_id=ds.PatientID)
        assert int(neuro.send_c_store(intruder).Status) == statuses.NOT_AUTHORIZED
        assert _studies(cardio, ds.PatientID) == {ds.StudyInstanceUID}
        assert _studies(router, ds.PatientID) == {ds.StudyInstanceUID}  # admin sees all
        assert _studies(neuro, ds.PatientID) == set()  # as if it did not exist
        assert _get_patient(neuro, ds.PatientID) == 0
        assert _get_patient(cardio, ds.PatientID) == 1  # Patient Root, PATIENT level
        [got] = cardio.received  # type: ignore[attr-defined]
        assert got.SOPInstanceUID == ds.SOPInstanceUID
    finally:
        for assoc in (cardio, neuro, router):
            assoc.release()
    response = httpx.get(
        f"{stack.dicomweb_url}/instances", params={"StudyInstanceUID": ds.StudyInstanceUID}
    )
    assert [m["00080018"]["Value"][0] for m in response.json()] == [ds.SOPInstanceUID]


def test_c_store_de_identifies_as_stow_does(stack: Stack) -> None:
    deidentify = AnonymizeSettings(anonymize=True, anonymize_uid_secret=SECRET)
    after = feed.latest_sequence(stack.dicomweb_url)
    ds = instances.fresh()
    ds.PatientName = "Identifiable^Person"
    with own_listener(stack, deidentify=deidentify) as address:
        assoc = associate(address, "MODALITY1", [build_context(CTImageStorage)])
        assert assoc.is_established
        try:
            assert int(assoc.send_c_store(ds).Status) == statuses.SUCCESS
        finally:
            assoc.release()
    sop = anonymize_uid(ds.SOPInstanceUID, SECRET.encode())
    feed.wait_for(stack.dicomweb_url, after, {sop})
    response = httpx.get(
        f"{stack.dicomweb_url}/instances",
        params={"SOPInstanceUID": sop, "includefield": "PatientName"},
    )
    [found] = response.json()
    assert found["0020000D"]["Value"] == [anonymize_uid(ds.StudyInstanceUID, SECRET.encode())]
    assert found.get("00100010", {}).get("Value") != [{"Alphabetic": "Identifiable^Person"}]
    original = httpx.get(
        f"{stack.dicomweb_url}/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}
    )
    assert original.status_code == 204  # never stored as received
