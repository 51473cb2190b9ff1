"""DIMSE against the real stack, with pynetdicom as the SCU over TCP: C-ECHO, C-STORE on STOW's
path (found through QIDO and the change feed), bad data sets, and who may associate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import (
    AE,
    StoragePresentationContexts,
    VerificationPresentationContexts,
    build_context,
)
from pynetdicom.association import Association
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind as PATIENT_ROOT,
)
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind as STUDY_ROOT,
)

from dicomstack.stack import Stack
from dimse import responses, statuses
from tests import instances
from tests.integration import changefeed_client as feed
from tests.integration.dimse_peers import DIMSE_MARKS, own_listener

pytestmark = DIMSE_MARKS

CALLED = "DICOMWEB"
_ALWAYS = {0x00080005, 0x00080052}  # SpecificCharacterSet, QueryRetrieveLevel


def _associate(
    host: str, port: int, calling: str = "MODALITY1", called: str = CALLED
) -> Association:
    ae = AE(ae_title=calling)
    ae.requested_contexts = [
        *VerificationPresentationContexts,
        *StoragePresentationContexts[:100],
        build_context(PATIENT_ROOT),
        build_context(STUDY_ROOT),
    ]
    return ae.associate(host, port, ae_title=called, evt_handlers=responses.HANDLERS)


@pytest.fixture
def association(stack: Stack) -> Iterator[Association]:
    assoc = _associate(*stack.dimse_address)
    assert assoc.is_established
    yield assoc
    assoc.release()


def _c_store(assoc: Association, ds: Dataset) -> int:
    status = assoc.send_c_store(ds)
    return int(status.Status)


def _qido_instances(stack: Stack, ds: Dataset) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.get(
        f"{stack.dicomweb_url}/instances", params={"SOPInstanceUID": ds.SOPInstanceUID}
    )
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else []


def test_c_echo_succeeds(association: Association) -> None:
    assert int(association.send_c_echo().Status) == statuses.SUCCESS


def test_c_store_is_found_through_qido_and_the_change_feed(
    stack: Stack, association: Association
) -> None:
    after = feed.latest_sequence(stack.dicomweb_url)
    study = instances.fresh().StudyInstanceUID
    stored = [instances.fresh(study=study), instances.fresh("MR_small.dcm", study=study)]
    assert [_c_store(association, ds) for ds in stored] == [statuses.SUCCESS] * 2
    feed.wait_for(stack.dicomweb_url, after, {ds.SOPInstanceUID for ds in stored})
    for ds in stored:  # answered once durable; indexed by the time the feed has it
        [found] = _qido_instances(stack, ds)
        assert found["0020000D"]["Value"] == [study]
    url = f"{stack.dicomweb_url}/studies/{study}/series/{stored[0].SeriesInstanceUID}"
    url += f"/instances/{stored[0].SOPInstanceUID}"
    retrieved = httpx.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert retrieved.status_code == 200


def test_c_store_confirmed_by_the_indexer_is_searchable_at_once(stack: Stack) -> None:
    with own_listener(stack, confirm="indexed") as address:
        assoc = _associate(*address)
        assert assoc.is_established
        try:
            ds = instances.fresh()
            assert _c_store(assoc, ds) == statuses.SUCCESS
        finally:
            assoc.release()
    [found] = _qido_instances(stack, ds)  # no waiting: the answer waited for the indexer
    assert found["00080018"]["Value"] == [ds.SOPInstanceUID]


def test_c_store_of_other_bytes_under_a_held_uid_is_a_duplicate_and_the_same_bytes_succeed(
    stack: Stack, association: Association
) -> None:
    after = feed.latest_sequence(stack.dicomweb_url)
    ds = instances.fresh()
    assert _c_store(association, ds) == statuses.SUCCESS
    feed.wait_for(stack.dicomweb_url, after, {ds.SOPInstanceUID})
    assert _c_store(association, ds) == statuses.SUCCESS  # a modality sending it again
    ds.PatientName = "Someone^Else"
    assert _c_store(association, ds) == statuses.DUPLICATE_SOP_INSTANCE  # decided before Success
    [found] = _qido_instances(stack, ds)
    assert found["00100010"]["Value"] != [{"Alphabetic": "Someone^Else"}]


def test_c_store_without_study_uid_fails_and_stores_nothing(
    stack: Stack, association: Association
) -> None:
    ds = instances.fresh()
    del ds.StudyInstanceUID  # STOW's failure reason for it: 0xA900, the same number in DIMSE
    assert _c_store(association, ds) == statuses.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert _qido_instances(stack, ds) == []


@pytest.fixture(scope="module")
def guarded(stack: Stack) -> Iterator[tuple[str, int]]:
    """A second DIMSE process on the stack's backends that knows one calling AE."""
    table = {"MODALITY1": {"permissions": ["find"], "hosts": ["127.0.0.1"]}}
    with own_listener(stack, calling_aes=table) as address:
        yield address


def test_unknown_calling_ae_is_rejected_at_association(guarded: tuple[str, int]) -> None:
    assoc = _associate(*guarded, calling="STRANGER")
    assert assoc.is_rejected
    assert assoc.acceptor.primitive.result_source == 0x01
    assert assoc.acceptor.primitive.diagnostic == 0x03  # calling AE title not recognized


def test_association_to_another_called_ae_title_is_rejected(stack: Stack) -> None:
    assoc = _associate(*stack.dimse_address, called="SOMEONE_ELSE")
    assert assoc.is_rejected
    assert assoc.acceptor.primitive.diagnostic == 0x07  # called AE title not recognized


def test_known_calling_ae_without_store_permission_is_refused(
    stack: Stack, guarded: tuple[str, int]
) -> None:
    assoc = _associate(*guarded, calling="MODALITY1")
    assert assoc.is_established
    try:
        assert int(assoc.send_c_echo().Status) == statuses.SUCCESS
        ds = instances.fresh()
        assert _c_store(assoc, ds) == statuses.NOT_AUTHORIZED
    finally:
        assoc.release()
    assert _qido_instances(stack, ds) == []


@pytest.fixture(scope="module")
def archive(stack: Stack) -> tuple[str, list[Dataset]]:
    """Three studies of two patients stored by STOW; their names and IDs share a fresh prefix."""
    prefix = f"P{uuid.uuid4().hex[:8].upper()}"
    made = [
        (f"{prefix}A", f"{prefix}^ALPHA", "20200315", "CT_small.dcm"),
        (f"{prefix}A", f"{prefix}^ALPHA", "20210610", "MR_small.dcm"),
        (f"{prefix}B", f"{prefix}^BRAVO", "20200901", "MR_small.dcm"),
    ]
    stored = []
    for patient_id, name, date, template in made:
        ds = instances.fresh(template, patient_id=patient_id)
        ds.PatientName, ds.StudyDate = name, date
        response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
        assert response.status_code == 200, response.text
        stored.append(ds)
    return prefix, stored


def _c_find(
    assoc: Association, model: str, level: str, keys: dict[str, str], returned: str
) -> list[Dataset]:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    setattr(identifier, returned, "")
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    answers = []
    for status, found in assoc.send_c_find(identifier, model):
        assert status is not None and int(status.Status) in (statuses.PENDING, statuses.SUCCESS)
        if int(status.Status) == statuses.PENDING:
            assert found is not None and found.QueryRetrieveLevel == level
            answers.append(found)
    return answers


_QIDO_LEVELS = {"STUDY": "studies", "SERIES": "series", "IMAGE": "instances"}
_UID_KEYWORD = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID"}
_UID_KEYWORD["IMAGE"] = "SOPInstanceUID"


def _qido(stack: Stack, level: str, keys: dict[str, str]) -> set[str]:
    response = httpx.get(f"{stack.dicomweb_url}/{_QIDO_LEVELS[level]}", params=keys)
    assert response.status_code in (200, 204), response.text
    tag = f"{pydicom.datadict.tag_for_keyword(_UID_KEYWORD[level]):08X}"
    return {m[tag]["Value"][0] for m in response.json()} if response.status_code == 200 else set()


MATRIX = [
    ("STUDY", {"PatientID": "{p}A"}),
    ("STUDY", {"PatientName": "{p}^B*"}),
    ("STUDY", {"PatientID": "{p}*", "StudyDate": "20200101-20201231"}),
    ("STUDY", {"PatientID": "{p}*", "ModalitiesInStudy": "MR"}),
    ("STUDY", {"StudyInstanceUID": "{uid0}\\{uid2}"}),
    ("SERIES", {"PatientID": "{p}*", "Modality": "CT"}),
    ("IMAGE", {"PatientID": "{p}?", "StudyDate": "20210101-"}),
]


@pytest.mark.parametrize(("level", "keys"), MATRIX)
def test_c_find_matches_what_qido_matches(
    stack: Stack,
    association: Association,
    archive: tuple[str, list[Dataset]],
    level: str,
    keys: dict[str, str],
) -> None:
    prefix, stored = archive
    uids = {f"uid{i}": ds.StudyInstanceUID for i, ds in enumerate(stored)}
    filled = {k: v.format(p=prefix, **uids) for k, v in keys.items()}
    expected = _qido(stack, level, filled)
    assert expected  # every row of the matrix matches something
    found = _c_find(association, STUDY_ROOT, level, filled, _UID_KEYWORD[level])
    assert {str(getattr(ds, _UID_KEYWORD[level])) for ds in found} == expected
    asked = {_tag(keyword) for keyword in [*filled, _UID_KEYWORD[level]]}
    assert all(set(ds.keys()) <= asked | _ALWAYS for ds in found)  # the requested keys only


def test_c_find_patient_level_answers_each_patient_once(
    association: Association, archive: tuple[str, list[Dataset]]
) -> None:
    prefix, _ = archive
    keys = {"PatientID": f"{prefix}*"}
    found = _c_find(association, PATIENT_ROOT, "PATIENT", keys, "PatientName")
    assert sorted(str(ds.PatientID) for ds in found) == [f"{prefix}A", f"{prefix}B"]


def test_c_find_with_an_unknown_level_fails(association: Association) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "FRAME"
    [(status, _)] = list(association.send_c_find(identifier, STUDY_ROOT))
    assert int(status.Status) == statuses.UNABLE_TO_PROCESS


def _tag(keyword: str) -> int:
    return int(pydicom.datadict.tag_for_keyword(keyword))


def test_c_find_matches_a_sequence_item_and_returns_the_keys_inside_it(
    stack: Stack, association: Association
) -> None:
    code = f"S{uuid.uuid4().hex[:10].upper()}"  # SH: at most 16 characters
    ds = instances.fresh()
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "LOCAL", "Head CT"
    ds.ProcedureCodeSequence = [item]
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200

    def find(value: str) -> list[Dataset]:
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.StudyInstanceUID = ""
        asked = Dataset()
        asked.CodeValue, asked.CodeMeaning = value, ""
        identifier.ProcedureCodeSequence = [asked]
        return [a for s, a in association.send_c_find(identifier, STUDY_ROOT) if a is not None]

    [found] = find(f"{code[:-2]}*")
    assert found.StudyInstanceUID == ds.StudyInstanceUID
    [returned] = found.ProcedureCodeSequence
    assert (returned.CodeValue, returned.CodeMeaning) == (code, "Head CT")
    assert "CodingSchemeDesignator" not in returned  # not asked for
    assert find(f"{code}X") == []
