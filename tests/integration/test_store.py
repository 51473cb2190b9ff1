"""STOW-RS through the gateway against the real stack: store, read your writes, bad input."""

from __future__ import annotations

import asyncio
import base64
import os
import warnings
from pathlib import Path

import httpx
import nats
import pytest
from pydicom.data import get_testdata_file

from dicomcommon.errors import FailureReason
from dicomcommon.settings import NatsSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

REFERENCED, FAILED, FAILURE_REASON = "00081199", "00081198", "00081197"


def _store(
    stack: Stack, body: bytes, content_type: str, study: str | None = None
) -> httpx.Response:
    return instances.store(stack.dicomweb_url, body, content_type, study)


def _find_study(stack: Stack, study: str) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.get(f"{stack.dicomweb_url}/studies", params={"StudyInstanceUID": study})
    assert response.status_code in (200, 204)
    return response.json() if response.status_code == 200 else []


def _failure_reasons(response: httpx.Response) -> list[int]:
    return [item[FAILURE_REASON]["Value"][0] for item in response.json()[FAILED]["Value"]]


def test_single_part_store_is_searchable_and_retrievable_at_once(stack: Stack) -> None:
    ds = instances.fresh()
    data = instances.to_bytes(ds)
    response = _store(stack, data, "application/dicom")
    assert response.status_code == 200, response.text
    [ref] = response.json()[REFERENCED]["Value"]
    assert ref["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert ref["00081190"]["Value"][0].endswith(f"/instances/{ds.SOPInstanceUID}")
    [study] = _find_study(stack, ds.StudyInstanceUID)
    assert study["00100020"]["Value"] == [ds.PatientID]
    assert study["00201208"]["Value"] == [1]
    url = (
        f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    retrieved = httpx.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert retrieved.status_code == 200
    assert retrieved.content == data


def test_multipart_batch_is_stored_in_one_request(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(20)]
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    response = _store(stack, body, instances.MULTIPART, study=study)
    assert response.status_code == 200, response.text
    assert len(response.json()[REFERENCED]["Value"]) == 20
    [found] = _find_study(stack, study)
    assert found["00201206"]["Value"] == [20]  # NumberOfStudyRelatedSeries
    assert found["00201208"]["Value"] == [20]


async def _ingest_messages(nats_url: str) -> int:
    """How many messages the ingest stream has taken so far."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(NatsSettings().ingest_stream)
        return int(info.state.last_seq)
    finally:
        await nc.close()


def test_a_request_is_one_ingest_command_and_one_answer_for_all_its_instances(
    stack: Stack,
) -> None:
    """Batch by request: the 20 instances of one STOW travel as one JetStream message (one
    publish, one stream ack), and every one of them is answered as indexed (200)."""
    datasets = [instances.fresh() for _ in range(20)]
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    before = asyncio.run(_ingest_messages(stack.nats_url))
    response = _store(stack, body, instances.MULTIPART)
    assert response.status_code == 200, response.text
    assert len(response.json()[REFERENCED]["Value"]) == 20
    assert asyncio.run(_ingest_messages(stack.nats_url)) - before == 1
    for ds in datasets:
        assert _find_study(stack, ds.StudyInstanceUID)


def test_identical_restore_succeeds_and_changes_nothing(stack: Stack) -> None:
    data = instances.to_bytes(instances.fresh())
    assert _store(stack, data, "application/dicom").status_code == 200
    assert _store(stack, data, "application/dicom").status_code == 200


def test_other_content_under_existing_sop_instance_uid_is_a_conflict(stack: Stack) -> None:
    ds = instances.fresh()
    assert _store(stack, instances.to_bytes(ds), "application/dicom").status_code == 200
    ds.PatientName = "Changed^Name"
    response = _store(stack, instances.to_bytes(ds), "application/dicom")
    assert response.status_code == 409
    assert _failure_reasons(response) == [FailureReason.DUPLICATE_SOP_INSTANCE]


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        ("not_dicom", FailureReason.CANNOT_UNDERSTAND),
        ("ct_missing_sop_instance_uid", FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS),
    ],
)
def test_bad_instance_is_refused_with_its_failure_reason(
    stack: Stack, defect: str, reason: int
) -> None:
    response = _store(stack, getattr(instances, defect)(), "application/dicom")
    assert response.status_code == 409
    assert _failure_reasons(response) == [reason]


def test_truncated_file_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    ds, data = instances.ct_truncated_in_pixel_data()
    response = _store(stack, data, "application/dicom")
    assert response.status_code == 409
    assert _failure_reasons(response) == [FailureReason.CANNOT_UNDERSTAND]
    assert _find_study(stack, ds.StudyInstanceUID) == []
    assert not list((stack.storage.root / "studies").glob(f"{ds.StudyInstanceUID}*"))


def test_study_uid_contradicting_the_url_is_refused(stack: Stack) -> None:
    ds = instances.fresh()
    other = instances.fresh().StudyInstanceUID
    response = _store(stack, instances.to_bytes(ds), "application/dicom", study=other)
    assert response.status_code == 409
    assert _failure_reasons(response) == [FailureReason.STUDY_UID_MISMATCH]
    assert _find_study(stack, ds.StudyInstanceUID) == []


def test_good_and_bad_parts_together_answer_202(stack: Stack) -> None:
    good = instances.fresh()
    body = instances.multipart_body([instances.to_bytes(good), instances.not_dicom()])
    response = _store(stack, body, instances.MULTIPART)
    assert response.status_code == 202
    assert len(response.json()[REFERENCED]["Value"]) == 1
    assert _failure_reasons(response) == [FailureReason.CANNOT_UNDERSTAND]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"hello", 415),
        ('multipart/related; type="application/dicom"', b"--x\r\n", 415),  # no boundary
        (instances.MULTIPART, b"--" + instances.BOUNDARY.encode() + b"\r\n\r\nabc", 400),
    ],
)
def test_malformed_requests_get_a_clear_4xx(
    stack: Stack, content_type: str, body: bytes, status: int
) -> None:
    response = _store(stack, body, content_type)
    assert response.status_code == status
    assert response.json()["error"]


def test_malformed_study_uid_in_url_is_a_400(stack: Stack) -> None:
    response = _store(stack, instances.to_bytes(instances.fresh()), "application/dicom", "x/../y")
    assert response.status_code in (400, 404)


def test_store_response_in_xml_when_asked(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=instances.to_bytes(instances.fresh()),
        headers={"Content-Type": "application/dicom", "Accept": "application/dicom+xml"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dicom+xml")
    assert b"NativeDicomModel" in response.content


def test_an_unconvertible_value_fails_its_instance_and_keeps_the_others(stack: Stack) -> None:
    """pydicom's badVR.dcm (Number of Frames ``1A``) used to answer 500 after the first
    instance of the request was stored."""
    good = instances.fresh()
    path = get_testdata_file("badVR.dcm")
    assert path is not None
    body = instances.multipart_body([instances.to_bytes(good), Path(path).read_bytes()])
    response = _store(stack, body, instances.MULTIPART)
    assert response.status_code == 202, response.text
    [ref] = response.json()[REFERENCED]["Value"]
    assert ref["00081155"]["Value"] == [good.SOPInstanceUID]
    assert _failure_reasons(response) == [FailureReason.CANNOT_UNDERSTAND]
    assert "1A" in response.headers["warning"]
    assert _find_study(stack, good.StudyInstanceUID)


def test_values_of_several_kilobytes_are_stored_and_found_by_their_whole_value(
    stack: Stack,
) -> None:
    """A PatientID or AccessionNumber past a btree row's limit used to stall the index."""
    ds = instances.fresh()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that LO and SH are longer than allowed
        ds.PatientID = base64.b64encode(os.urandom(6000)).decode()[:6000]
        ds.AccessionNumber = base64.b64encode(os.urandom(6000)).decode()[:6000]
        data = instances.to_bytes(ds)
    response = _store(stack, data, "application/dicom")
    assert response.status_code == 200, response.text
    for key, value in (("PatientID", ds.PatientID), ("AccessionNumber", ds.AccessionNumber)):
        found = httpx.get(f"{stack.dicomweb_url}/studies", params={key: value})
        assert found.status_code == 200, found.text
        assert [s["0020000D"]["Value"][0] for s in found.json()] == [ds.StudyInstanceUID]
    wildcard = httpx.get(
        f"{stack.dicomweb_url}/studies", params={"PatientID": ds.PatientID[:-1] + "?"}
    )
    assert [s["0020000D"]["Value"][0] for s in wildcard.json()] == [ds.StudyInstanceUID]


def test_a_body_cut_before_its_closing_boundary_lists_what_was_stored(stack: Stack) -> None:
    """The first instance is complete and stored; the answer says so (it used to be a bare
    400) and fails the rest with 0xC000."""
    first, second = instances.fresh(), instances.fresh()
    whole = instances.multipart_body([instances.to_bytes(first), instances.to_bytes(second)])
    body = whole[: whole.index(instances.to_bytes(second)) + 1000]
    response = _store(stack, body, instances.MULTIPART)
    assert response.status_code == 202, response.text
    [ref] = response.json()[REFERENCED]["Value"]
    assert ref["00081155"]["Value"] == [first.SOPInstanceUID]
    assert _failure_reasons(response) == [FailureReason.CANNOT_UNDERSTAND]
    assert "closing boundary" in response.headers["warning"]
    assert _find_study(stack, first.StudyInstanceUID)
    assert _find_study(stack, second.StudyInstanceUID) == []


def test_an_instance_whose_metadata_passes_the_nats_payload_limit_is_stored(stack: Stack) -> None:
    """The stack's NATS runs with the stock 1 MiB max_payload: a command carrying 1.5 MB of
    metadata used to answer 500 (MaxPayloadError) and leave an orphan blob."""
    ds = instances.fresh()
    ds.add_new(0x0040A160, "UT", "report text " * 130_000)  # Text Value: 1.56 MB inline
    response = _store(stack, instances.to_bytes(ds), "application/dicom")
    assert response.status_code == 200, response.text
    assert _find_study(stack, ds.StudyInstanceUID)
    url = (
        f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/metadata"
    )
    [metadata] = httpx.get(url).json()
    assert metadata["0040A160"]["Value"] == [ds[0x0040A160].value.rstrip()]


def test_a_file_cut_inside_its_header_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    """Cut in an element before the pixel data, it used to be stored (200) without its
    pixel data, which pydicom reads as far as it goes."""
    ds = instances.fresh()
    data = instances.to_bytes(ds)
    cut = data[: data.index(b"\xe0\x7f\x10\x00") - 200]
    response = _store(stack, cut, "application/dicom")
    assert response.status_code == 409, response.text
    assert _failure_reasons(response) == [FailureReason.CANNOT_UNDERSTAND]
    assert "truncated" in response.headers["warning"]
    assert _find_study(stack, ds.StudyInstanceUID) == []
