"""Extended query tags end to end through the gateway: an administrator declares tags with
Microsoft's API, a reindex fills them from the stored metadata (also across a SIGKILL of the
indexer), dicomweb-client searches them, new stores are searchable at once; attributes nobody
declared are searched from the stored metadata with a Warning, bounded by the scan limit.

The module runs a stack of its own: tags are server-wide, its reindex goes in small, slow
batches so a crash lands mid-way, and its QIDO scans at most 40 rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances
from tests.polling import eventually
from tests.tokens import token_for

pytestmark = pytest.mark.integration

CREATOR = "ACME 1.0"
PRIVATE = "00091001"  # (0009,1001) LO of ACME 1.0, in block 10
MAX_SCAN_ROWS = 40


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    environ = {
        **os.environ,
        "DICOMWEB_INDEXER_REINDEX_BATCH_SIZE": "5",
        "DICOMWEB_INDEXER_REINDEX_PAUSE_SECONDS": "0.3",
        "DICOMWEB_QIDO_MAX_SCAN_ROWS": str(MAX_SCAN_ROWS),
    }
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("eqt-stack"), startup_timeout=240)
    with Stack(settings, environ=environ) as running:
        yield running


@pytest.fixture(scope="module")
def client(own_stack: Stack) -> DICOMwebClient:
    return DICOMwebClient(url=own_stack.dicomweb_url)


def _dataset(study: str | None = None, value: str | None = None, **attrs: Any) -> pydicom.Dataset:
    ds = instances.fresh(study=study)
    ds.remove_private_tags()  # the vendor's own blocks would move ours off block 10
    if value is not None:
        block = ds.private_block(0x0009, CREATOR, create=True)
        block.add_new(0x01, "LO", value)
    for keyword, attr_value in attrs.items():
        setattr(ds, keyword, attr_value)
    return ds


def _operation(stack: Stack, reference: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(f"{stack.dicomweb_url}/operations/{reference['id']}", timeout=10)
    assert response.status_code in (200, 202), response.text
    document: dict[str, Any] = response.json()
    assert (response.status_code == 202) == (document["status"] in ("NotStarted", "Running"))
    return document


def _add(stack: Stack, tags: list[dict[str, str]]) -> dict[str, str]:
    response = httpx.post(f"{stack.dicomweb_url}/extendedquerytags", json=tags, timeout=10)
    assert response.status_code == 202, response.text
    reference: dict[str, str] = response.json()
    assert reference["href"].endswith(f"/operations/{reference['id']}")
    return reference


def _completed(stack: Stack, reference: dict[str, str], seconds: float = 120) -> dict[str, Any]:
    assert eventually(lambda: _operation(stack, reference)["status"] == "Completed", seconds)
    return _operation(stack, reference)


def _search(stack: Stack, level: str, params: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{stack.dicomweb_url}/{level}", params=params, timeout=30)


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        ([{"path": "PatientName", "level": "Study"}], 409),  # searchable already
        ([{"path": "NotAKeyword", "level": "Study"}], 400),
        ([{"path": "00091002", "vr": "LO", "level": "Instance"}], 400),  # no privateCreator
        ([{"path": "00091002", "vr": "OB", "privateCreator": "X", "level": "Instance"}], 400),
        ([{"path": "PatientAge", "vr": "LO", "level": "Study"}], 400),  # its VR is AS
        ([{"path": "PatientAge", "level": "Patient"}], 400),
        ([{"path": "ReferencedSeriesSequence.SeriesInstanceUID", "level": "Series"}], 400),
        ([{"path": "PixelData", "level": "Instance"}], 400),
        ([], 400),
    ],
)
def test_declaring_a_tag_refuses_what_microsofts_api_refuses(
    own_stack: Stack, tags: list[dict[str, str]], status: int
) -> None:
    response = httpx.post(f"{own_stack.dicomweb_url}/extendedquerytags", json=tags, timeout=10)
    assert response.status_code == status, response.text


def test_tags_reindex_stored_instances_and_index_new_ones_at_once(
    own_stack: Stack, client: DICOMwebClient
) -> None:
    study = pydicom.uid.generate_uid()
    before = [
        _dataset(study, "ALPHA", PatientAge="042Y", AcquisitionDate="19970430"),
        _dataset(study, "BETA", PatientAge="042Y", AcquisitionDate="20240105"),
        _dataset(study, "GAMMA", PatientAge="042Y", AcquisitionDate=["20240106", "20240107"]),
    ]  # the last has two AcquisitionDates: it cannot be indexed
    client.store_instances(before)
    reference = _add(
        own_stack,
        [
            {"path": PRIVATE, "vr": "LO", "privateCreator": CREATOR, "level": "Instance"},
            {"path": "PatientAge", "level": "Study"},
            {"path": "00080022", "level": "Instance"},  # AcquisitionDate
        ],
    )
    duplicate = [{"path": "PatientAge", "level": "Study"}]
    conflict = httpx.post(f"{own_stack.dicomweb_url}/extendedquerytags", json=duplicate)
    assert conflict.status_code == 409
    operation = _completed(own_stack, reference)
    assert operation["percentComplete"] == 100
    assert set(operation["resourceIds"]) == {PRIVATE, "00101010", "00080022"}

    [alpha] = client.search_for_instances(search_filters={PRIVATE: "ALPHA"})
    assert alpha["00080018"]["Value"] == [before[0].SOPInstanceUID]
    found = client.search_for_instances(search_filters={PRIVATE: "*A", "StudyInstanceUID": study})
    assert {m["00080018"]["Value"][0] for m in found} == {d.SOPInstanceUID for d in before}
    [by_age] = client.search_for_studies(search_filters={"PatientAge": "042Y"})
    assert by_age["0020000D"]["Value"] == [study]
    indexed = _search(own_stack, "instances", {PRIVATE: "BETA"})
    assert indexed.status_code == 200 and "Warning" not in indexed.headers

    later = _dataset(study, "ALPHA")
    client.store_instances([later])  # indexed in the store's own transaction
    found = client.search_for_instances(search_filters={PRIVATE: "ALPHA"})
    assert {m["00080018"]["Value"][0] for m in found} == {
        before[0].SOPInstanceUID,
        later.SOPInstanceUID,
    }
    _check_errors_and_query_status(own_stack, client, before)


def _check_errors_and_query_status(
    stack: Stack, client: DICOMwebClient, before: list[pydicom.Dataset]
) -> None:
    """The value that could not be indexed is listed; its tag is Disabled until enabled."""
    base = stack.dicomweb_url
    tag = httpx.get(f"{base}/extendedquerytags/AcquisitionDate").json()
    assert tag["status"] == "Ready" and tag["queryStatus"] == "Disabled", tag
    assert tag["errors"]["count"] == 1
    [error] = httpx.get(tag["errors"]["href"]).json()  # the launcher's public URL
    assert error["sopInstanceUid"] == before[2].SOPInstanceUID
    assert "more than one value" in error["errorMessage"]
    disabled = _search(stack, "instances", {"AcquisitionDate": "20240105"})
    assert "not index-backed" in disabled.headers.get("Warning", "")
    patched = httpx.patch(f"{base}/extendedquerytags/00080022", json={"queryStatus": "Enabled"})
    assert patched.status_code == 200 and patched.json()["queryStatus"] == "Enabled"
    [match] = client.search_for_instances(search_filters={"AcquisitionDate": "20240101-20240131"})
    assert match["00080018"]["Value"] == [before[1].SOPInstanceUID]
    enabled = _search(stack, "instances", {"AcquisitionDate": "20240105"})
    assert enabled.headers["erroneous-dicom-attributes"] == "AcquisitionDate"
    assert "Warning" not in enabled.headers
    listed = httpx.get(f"{base}/extendedquerytags", params={"limit": 2, "offset": 1}).json()
    assert [t["path"] for t in listed] == ["00091001", "00101010"]
    assert httpx.delete(f"{base}/extendedquerytags/00080022").status_code == 204
    assert httpx.get(f"{base}/extendedquerytags/00080022").status_code == 404


async def _progress(stack: Stack, operation_id: str) -> asyncpg.Record:
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        row = await conn.fetchrow(
            "SELECT done, total, status FROM operation WHERE operation_id = $1", operation_id
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def test_a_reindex_resumes_after_the_indexer_is_killed(
    own_stack: Stack, client: DICOMwebClient
) -> None:
    study = pydicom.uid.generate_uid()
    stored = [_dataset(study, SeriesDescription=f"crash {i}") for i in range(45)]
    for i, ds in enumerate(stored):
        ds.add_new(0x00181030, "LO", "CRASH-PROTOCOL" if i % 3 else "OTHER")  # ProtocolName
    client.store_instances(stored)
    reference = _add(own_stack, [{"path": "ProtocolName", "level": "Instance"}])
    assert eventually(lambda: _operation(own_stack, reference)["percentComplete"] > 0, 60)
    own_stack.kill("indexer")
    halfway = await _progress(own_stack, reference["id"])
    assert halfway["status"] == "Running" and 0 < halfway["done"] < halfway["total"]
    own_stack.restart("indexer")
    _completed(own_stack, reference)
    finished = await _progress(own_stack, reference["id"])
    assert finished["done"] == finished["total"]  # resumed: no batch done twice
    found = client.search_for_instances(
        search_filters={"ProtocolName": "CRASH-PROTOCOL", "StudyInstanceUID": study}
    )
    assert len(found) == 30


def test_an_undeclared_attribute_is_searched_from_metadata_with_a_warning(
    own_stack: Stack, client: DICOMwebClient
) -> None:
    study = pydicom.uid.generate_uid()
    ds = _dataset(study)
    block = ds.private_block(0x0011, "OTHER VENDOR", create=True)
    block.add_new(0x10, "SH", "NEEDLE")
    client.store_instances([ds, _dataset(study)])
    answer = _search(own_stack, "instances", {"StudyInstanceUID": study, "00111010": "NEEDLE"})
    assert answer.status_code == 200, answer.text
    assert [m["00080018"]["Value"][0] for m in answer.json()] == [ds.SOPInstanceUID]
    warning = answer.headers["Warning"]
    assert warning.startswith("299 ") and "00111010: not index-backed" in warning
    too_broad = _search(own_stack, "instances", {"00111010": "NEEDLE"})
    assert too_broad.status_code == 413 and "extended query tag" in too_broad.text


def test_managing_tags_needs_the_admin_permission(auth_stack: Stack) -> None:
    url = f"{auth_stack.dicomweb_url}/extendedquerytags"
    tags = [{"path": "BodyPartExamined", "level": "Series"}]
    for user in ("reader", "writer", "deleter"):
        token = token_for(auth_stack, user)
        response = httpx.post(url, json=tags, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, (user, response.text)
    admin = {"Authorization": f"Bearer {token_for(auth_stack, 'admin')}"}
    assert httpx.get(url, headers=admin).status_code == 200
    started = time.monotonic()
    response = httpx.post(url, json=tags, headers=admin)
    assert response.status_code == 202 and time.monotonic() - started < 10


# 23:30 UTC on 1 March 2024 written three ways (in the instance's offset; in the value's own,
# which wins over the instance's -0500; with no offset at all), and 17:00 UTC on 2 March,
# stored after the tag is ready. ``""``: the instance has no TimezoneOffsetFromUTC.
_MOMENTS = [
    ("20240301233000", "+0000"),
    ("20240302003000+0100", "-0500"),
    ("20240301233000", ""),
    ("20240302120000-0500", "-0500"),
]


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"AcquisitionDateTime": "20240301233000-20240301233059"}, [0, 1, 2]),
        ({"AcquisitionDateTime": "20240302-"}, [3]),  # as text, 1 would be on 2 March
        ({"AcquisitionDateTime": "20240302-", "TimezoneOffsetFromUTC": "+0100"}, [0, 1, 3]),
        ({"AcquisitionDateTime": "-20240301232959"}, []),
        ({"AcquisitionDateTime": "2024"}, [0, 1, 2, 3]),
        ({"AcquisitionDateTime": "20240302003000+0100"}, [0, 1, 2]),
    ],
)
def test_a_datetime_tag_matches_as_moments_through_microsofts_versioned_paths(
    own_stack: Stack, datetime_tag: tuple[str, list[pydicom.Dataset]], params: dict[str, str],
    found: list[int],
) -> None:  # fmt: skip
    study, stored = datetime_tag
    base = f"{own_stack.dicomweb_url}/v1"
    answer = httpx.get(f"{base}/studies/{study}/instances", params=params, timeout=30)
    assert answer.status_code == (200 if found else 204), answer.text
    assert "Warning" not in answer.headers  # index-backed
    matched = {m["00080018"]["Value"][0] for m in answer.json()} if found else set()
    assert matched == {stored[i].SOPInstanceUID for i in found}


@pytest.fixture(scope="module")
def datetime_tag(own_stack: Stack) -> tuple[str, list[pydicom.Dataset]]:
    """AcquisitionDateTime declared through Microsoft's ``/v1/`` paths over three instances,
    a fourth stored once it is ready; each read back through WADO's versioned path."""
    study, base = pydicom.uid.generate_uid(), f"{own_stack.dicomweb_url}/v1.0-prerelease"
    stored = [_dataset(study, AcquisitionDateTime=value) for value, _ in _MOMENTS]
    for ds, (_, offset) in zip(stored, _MOMENTS, strict=True):
        ds.TimezoneOffsetFromUTC = offset
        if not offset:
            del ds.TimezoneOffsetFromUTC
    v1 = DICOMwebClient(url=f"{own_stack.dicomweb_url}/v1")
    v1.store_instances(stored[:3])
    tags = [{"path": "AcquisitionDateTime", "level": "Instance"}]
    answer = httpx.post(f"{base}/extendedquerytags", json=tags, timeout=10)
    assert answer.status_code == 202, answer.text
    operation = f"{base}/operations/{answer.json()['id']}"
    assert eventually(lambda: httpx.get(operation).json()["status"] == "Completed", 120)
    tag = httpx.get(f"{own_stack.dicomweb_url}/v2/extendedquerytags/AcquisitionDateTime").json()
    assert tag["status"] == "Ready" and tag["queryStatus"] == "Enabled", tag
    v1.store_instances(stored[3:])  # indexed in its store's transaction
    metadata = v1.retrieve_instance_metadata(
        study, stored[1].SeriesInstanceUID, stored[1].SOPInstanceUID
    )
    assert metadata["0008002A"]["Value"] == ["20240302003000+0100"]
    return study, stored
