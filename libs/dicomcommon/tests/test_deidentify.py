"""Anonymize on store: settings and the per-part rewrite (PS3.15 Annex E)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydantic import ValidationError
from pydicom.data import get_testdata_file

from dicomcommon.dicom.anonymize import anonymize_uid
from dicomcommon.dicom.deidentify import Deidentifier
from dicomcommon.errors import InvalidInstance
from dicomcommon.settings import AnonymizeSettings as Settings
from dicomcommon.web.multipart import Part


def _part(body: bytes) -> Part:
    part = Part({"content-type": "application/dicom"})
    part.write(body)
    part.body.seek(0)
    return part


def test_off_by_default() -> None:
    assert Deidentifier.of(Settings()) is None


def test_replacing_uids_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="UID_SECRET"):
        Settings(anonymize=True)
    assert Settings(anonymize=True, anonymize_options="retain_uids").anonymize


def test_unknown_option_is_a_settings_error() -> None:
    with pytest.raises(ValidationError):
        Settings(anonymize_options="retain_everything")


async def test_part_is_rewritten_de_identified() -> None:
    deidentifier = Deidentifier.of(Settings(anonymize=True, anonymize_uid_secret="k"))
    assert deidentifier is not None
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    original = Path(path).read_bytes()  # noqa: ASYNC240 -- a small test file
    rewritten = await deidentifier.apply(_part(original))
    assert isinstance(rewritten, Part)
    ds = pydicom.dcmread(rewritten.body)
    source_ds = pydicom.dcmread(path)
    assert ds.PatientIdentityRemoved == "YES" and not ds.PatientName
    assert ds.StudyInstanceUID == deidentifier.uid(source_ds.StudyInstanceUID)
    assert ds.StudyInstanceUID == anonymize_uid(source_ds.StudyInstanceUID, b"k")


async def test_unreadable_part_is_refused_not_stored_as_is() -> None:
    deidentifier = Deidentifier.of(Settings(anonymize=True, anonymize_uid_secret="k"))
    assert deidentifier is not None
    assert isinstance(await deidentifier.apply(_part(b"not dicom" * 50)), InvalidInstance)
