"""End to end through the gateway with a third-party client (dicomweb-client): store, find and
retrieve byte-identical. Runs against ``$DICOMWEB_E2E_URL`` when set, else the session stack."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file

from tests import instances

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(dicomweb_url: str) -> DICOMwebClient:
    return DICOMwebClient(url=dicomweb_url)


def _as_client_sends(ds: pydicom.Dataset) -> bytes:
    """The bytes dicomweb-client puts on the wire for ``ds`` (it calls ``dcmwrite``)."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return buffer.getvalue()


def _store_find_retrieve(client: DICOMwebClient, dicomweb_url: str, ds: pydicom.Dataset) -> None:
    sent = _as_client_sends(ds)
    response = client.store_instances([ds])
    assert response.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID

    [study] = client.search_for_studies(search_filters={"StudyInstanceUID": ds.StudyInstanceUID})
    assert study["0020000D"]["Value"] == [ds.StudyInstanceUID]
    [series] = client.search_for_series(ds.StudyInstanceUID)
    assert series["0020000E"]["Value"] == [ds.SeriesInstanceUID]
    [found] = client.search_for_instances(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert found["00080018"]["Value"] == [ds.SOPInstanceUID]

    retrieved = client.retrieve_instance(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    assert _as_client_sends(retrieved) == sent
    url = (
        f"{dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    raw = httpx.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert raw.content == sent


@pytest.mark.parametrize("template", ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"])
def test_store_find_and_retrieve_byte_identical(
    client: DICOMwebClient, dicomweb_url: str, template: str
) -> None:
    _store_find_retrieve(client, dicomweb_url, instances.fresh(template))


def test_unmodified_test_file_round_trips_byte_identical(
    client: DICOMwebClient, dicomweb_url: str
) -> None:
    path = get_testdata_file("rtplan.dcm")
    assert path is not None
    ds = pydicom.dcmread(path)
    assert _as_client_sends(ds) == Path(path).read_bytes()  # the file itself goes on the wire
    _store_find_retrieve(client, dicomweb_url, ds)


def test_search_in_another_timezone(client: DICOMwebClient) -> None:
    """A study of 1 March, 23:30 in UTC is a study of 2 March for a client at UTC+01:00."""
    ds = instances.fresh()
    ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = "20240301", "233000", "+0000"
    client.store_instances([ds])

    def studies(**filters: str) -> list[str]:
        found = client.search_for_studies(search_filters={"PatientID": ds.PatientID, **filters})
        return [study["0020000D"]["Value"][0] for study in found]

    assert studies(StudyDate="20240302") == []
    assert studies(StudyDate="20240302", TimezoneOffsetFromUTC="+0100") == [ds.StudyInstanceUID]
    assert studies(StudyTime="0000-0059", TimezoneOffsetFromUTC="+0100") == [ds.StudyInstanceUID]
    assert studies(StudyDate="20240301", TimezoneOffsetFromUTC="+0100") == []


def test_newest_study_first_and_counts_through_the_gateway(
    client: DICOMwebClient, dicomweb_url: str
) -> None:
    """A patient's studies come newest first; ``…/count`` reaches QIDO, not WADO."""
    older, newer = instances.fresh(), instances.fresh()
    newer.PatientID = older.PatientID
    older.StudyDate, newer.StudyDate = "20240101", "20250101"
    client.store_instances([older, newer])
    found = client.search_for_studies(search_filters={"PatientID": older.PatientID})
    assert [s["0020000D"]["Value"][0] for s in found] == [
        newer.StudyInstanceUID,
        older.StudyInstanceUID,
    ]
    counted = httpx.get(f"{dicomweb_url}/studies/count", params={"PatientID": older.PatientID})
    assert counted.json() == {"count": 2}
    series = f"{dicomweb_url}/studies/{newer.StudyInstanceUID}/series"
    assert httpx.get(f"{series}/count").json() == {"count": 1}
    nested = f"{series}/{newer.SeriesInstanceUID}/instances/count"
    assert httpx.get(nested).json() == {"count": 1}
