"""Anonymize on store (``DICOMWEB_STOW_ANONYMIZE=true``) against a second real stack: what is
stored, indexed and answered is the de-identified instance (PS3.15 Annex E Basic Profile)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import httpx
import pydicom
import pytest

from dicomcommon.dicom.anonymize import anonymize_uid
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

SECRET = "integration-test-secret"
REFERENCED = "00081199"


@pytest.fixture(scope="module")
def anonymizing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose STOW de-identifies with the Retain Longitudinal Full Dates option."""
    environ = {
        **os.environ,
        "DICOMWEB_STOW_ANONYMIZE": "true",
        "DICOMWEB_STOW_ANONYMIZE_OPTIONS": "retain_long_full_dates",
        "DICOMWEB_STOW_ANONYMIZE_UID_SECRET": SECRET,
    }
    with Stack(StackSettings.ephemeral(tmp_path_factory.mktemp("anonymizing")), environ) as stack:
        yield stack


def test_stored_instance_is_de_identified(anonymizing: Stack) -> None:
    ds = instances.fresh()
    ds.PatientName = "Identifiable^Person"
    ds.OtherPatientIDs = "MRN-0042"
    url = f"{anonymizing.dicomweb_url}/studies/{ds.StudyInstanceUID}"
    response = httpx.post(
        url,
        content=instances.to_bytes(ds),
        headers={"Content-Type": "application/dicom"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    study = anonymize_uid(ds.StudyInstanceUID, SECRET)
    series, sop = (
        anonymize_uid(ds.SeriesInstanceUID, SECRET),
        anonymize_uid(ds.SOPInstanceUID, SECRET),
    )
    assert response.json()["00081190"]["Value"][0].endswith(f"/studies/{study}")
    [referenced] = response.json()[REFERENCED]["Value"]
    assert referenced["00081155"]["Value"] == [sop]

    blob = httpx.get(
        f"{anonymizing.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
    )
    assert blob.status_code == 200
    assert b"Identifiable" not in blob.content and ds.PatientID.encode() not in blob.content
    stored = pydicom.dcmread(io.BytesIO(blob.content))
    assert stored.PatientIdentityRemoved == "YES"
    assert not stored.PatientName and "OtherPatientIDs" not in stored
    assert stored.StudyDate == ds.StudyDate  # the option keeps dates
    assert (
        httpx.get(
            f"{anonymizing.dicomweb_url}/studies", params={"PatientID": ds.PatientID}
        ).status_code
        == 204
    )


def test_same_study_maps_to_one_study_across_requests(anonymizing: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    for _ in range(2):
        body = instances.to_bytes(instances.fresh(study=study))
        response = httpx.post(
            f"{anonymizing.dicomweb_url}/studies",
            content=body,
            headers={"Content-Type": "application/dicom"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
    found = httpx.get(
        f"{anonymizing.dicomweb_url}/studies",
        params={"StudyInstanceUID": anonymize_uid(study, SECRET)},
    ).json()
    assert [s["00201208"]["Value"] for s in found] == [[2]]
