"""PS3.15 Annex E Basic Profile and its options: what goes, what each option keeps."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomcommon.dicom import anonymize
from dicomcommon.dicom.anonymize import Option

SECRET = b"test-secret"


def _ct() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientBirthDate = "19700101"
    ds.PatientAge = "034Y"
    ds.PatientWeight = "70"
    ds.OtherPatientIDs = "OTHER-123"
    ds.InstitutionAddress = "1 Main Street"
    ds.PerformingPhysicianName = "Doe^Jane"
    ds.DeviceSerialNumber = "SN-4711"
    ds.StudyDescription = "Head CT for CompressedSamples"
    ds.SeriesDescription = "axial"
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = ds.SOPClassUID
    referenced.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.ReferencedImageSequence = Sequence([referenced])
    return ds


def test_profile_table_is_the_standard_table() -> None:
    table = anonymize.profile_table()
    assert len(table) >= 654  # PS3.15 2025e, less the private attributes row
    assert table["00100010"].basic == "Z"  # Patient's Name
    assert table["0020000D"].options == {Option.RETAIN_UIDS: "K"}
    assert table["60xx3000"].basic == "X"


def test_basic_profile_removes_identifying_attributes() -> None:
    ds = _ct()
    original_name, original_uid = str(ds.PatientName), ds.SOPInstanceUID
    anonymize.anonymize(ds, (), SECRET)
    for keyword in ("PatientName", "PatientBirthDate", "AccessionNumber",
                    "ReferringPhysicianName", "StudyDate", "StudyID"):  # fmt: skip
        assert not ds.get(keyword), keyword  # Z: present, empty
    assert ds.PatientID == "ANONYMIZED"  # Z/D: the conformance-safe dummy
    assert ds.InstanceCreationDate == "19000101"  # X/D
    assert ds.InstanceCreationTime == "000000"  # X/Z/D
    removed = ("OtherPatientIDs", "InstitutionAddress", "PerformingPhysicianName", "PatientAge",
               "PatientWeight", "StudyDescription", "SeriesDescription")  # fmt: skip
    for keyword in removed:
        assert keyword not in ds, keyword  # X
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert ds.DeviceSerialNumber == "ANONYMIZED"  # X/Z/D: the conformance-safe dummy
    assert original_name not in str(ds)
    assert ds.SOPInstanceUID.startswith("2.25.") and ds.SOPInstanceUID != original_uid
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # not in the table: kept


# Rows checked against PS3.15 2025e Table E.1-1 where the first transcription differed from it.
@pytest.mark.parametrize(
    ("tag", "options", "action"),
    [
        (0x00100020, (), "Z/D"),  # Patient ID
        (0x30060009, (), "Z"),  # Structure Set Time
        (0x30060009, (Option.RETAIN_LONG_FULL_DATES,), "K"),
        (0x300A00B2, (), "X/Z"),  # Treatment Machine Name
        (0x300A00B2, (Option.RETAIN_DEVICE_IDENTITY,), "K"),
        (0x30100077, (), "X/D"),  # Treatment Site
        (0x30100077, (Option.CLEAN_DESCRIPTORS,), "C"),
        (0x00081120, (Option.RETAIN_UIDS,), "K"),  # Referenced Patient Sequence
        (0x00203401, (Option.RETAIN_DEVICE_IDENTITY,), "K"),  # Modifying Device ID
        (0x00400241, (Option.RETAIN_DEVICE_IDENTITY,), "C"),  # Performed Station AE Title
        (0x00400001, (Option.RETAIN_DEVICE_IDENTITY,), "C"),  # Scheduled Station AE Title
        (0x00321021, (Option.RETAIN_DEVICE_IDENTITY,), "C"),  # Scheduled Study Location AE Title
        (0x00321033, (Option.CLEAN_DESCRIPTORS,), "C"),  # Requesting Service
    ],
)
def test_corrected_rows_follow_the_standard(
    tag: int, options: tuple[Option, ...], action: str
) -> None:
    assert anonymize.action_for(tag, options) == action


# Rows of PS3.15 2025e Table E.1-1 the first transcription left out (not listed: kept as is).
@pytest.mark.parametrize(
    ("tag", "options", "action"),
    [
        (0x00080012, (), "X/D"),  # Instance Creation Date
        (0x00080012, (Option.RETAIN_LONG_FULL_DATES,), "K"),
        (0x00080013, (), "X/Z/D"),  # Instance Creation Time
        (0x00080017, (), "U"),  # Acquisition UID
        (0x00080017, (Option.RETAIN_UIDS,), "K"),
        (0x00640003, (), "U"),  # Source Frame of Reference UID
        (0x00080055, (), "X"),  # Station AE Title
        (0x00080055, (Option.RETAIN_DEVICE_IDENTITY,), "C"),
        (0x00181200, (), "X"),  # Date of Last Calibration
        (0x00181200, (Option.RETAIN_DEVICE_IDENTITY,), "K"),
        (0x00181200, (Option.RETAIN_LONG_FULL_DATES,), "K"),
        (0x00102161, (), "X"),  # Ethnic Group Code Sequence
        (0x00102161, (Option.RETAIN_PATIENT_CHARACTERISTICS,), "K"),
        (0x00100043, (), "X"),  # Sex Parameters for Clinical Use Category Sequence
        (0x00120041, (), "X"),  # Issuer of Clinical Trial Subject ID
        (0x00420011, (), "D"),  # Encapsulated Document
        (0x00400556, (Option.CLEAN_DESCRIPTORS,), "C"),  # Acquisition Context Description
    ],
)
def test_rows_missing_from_the_first_transcription(
    tag: int, options: tuple[Option, ...], action: str
) -> None:
    assert anonymize.action_for(tag, options) == action


def test_retain_long_full_dates_keeps_instance_creation() -> None:
    ds = _ct()
    kept = (ds.InstanceCreationDate, ds.InstanceCreationTime)
    anonymize.anonymize(ds, [Option.RETAIN_LONG_FULL_DATES], SECRET)
    assert (ds.InstanceCreationDate, ds.InstanceCreationTime) == kept


def test_method_is_recorded() -> None:
    ds = _ct()
    anonymize.anonymize(ds, ["retain_uids", "clean_descriptors"], SECRET)
    assert ds.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113110"]
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_uids_are_replaced_consistently_and_deterministically() -> None:
    first, second = _ct(), _ct()
    study = first.StudyInstanceUID
    anonymize.anonymize(first, (), SECRET)
    anonymize.anonymize(second, (), SECRET)
    assert (
        first.StudyInstanceUID == second.StudyInstanceUID == anonymize.anonymize_uid(study, SECRET)
    )
    item = first.ReferencedImageSequence[0]  # X/Z/U*: kept, UIDs inside replaced
    assert item.ReferencedSOPInstanceUID == anonymize.anonymize_uid("1.2.3.4.5", SECRET)
    assert item.ReferencedSOPClassUID == first.SOPClassUID
    assert anonymize.anonymize_uid(study, b"other secret") != first.StudyInstanceUID
    assert len(first.StudyInstanceUID) <= 64


def test_retain_uids_keeps_uids() -> None:
    ds = _ct()
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID)
    anonymize.anonymize(ds, [Option.RETAIN_UIDS])
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
            ds.FrameOfReferenceUID) == uids  # fmt: skip


def test_retain_long_full_dates_keeps_dates_and_times() -> None:
    ds = _ct()
    kept = {k: ds.get(k) for k in ("StudyDate", "SeriesDate", "AcquisitionDate", "StudyTime",
                                   "ContentDate", "ContentTime")}  # fmt: skip
    anonymize.anonymize(ds, [Option.RETAIN_LONG_FULL_DATES], SECRET)
    assert {k: ds.get(k) for k in kept} == kept
    assert not ds.PatientBirthDate  # no option keeps the birth date
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


def test_retain_patient_characteristics_keeps_them() -> None:
    ds = _ct()
    sex = ds.PatientSex
    anonymize.anonymize(ds, [Option.RETAIN_PATIENT_CHARACTERISTICS], SECRET)
    assert (ds.PatientSex, ds.PatientAge, ds.PatientWeight) == (sex, "034Y", 70)
    assert not ds.PatientName


def test_retain_device_identity_keeps_it() -> None:
    ds = _ct()
    station = ds.StationName
    anonymize.anonymize(ds, [Option.RETAIN_DEVICE_IDENTITY], SECRET)
    assert (ds.DeviceSerialNumber, ds.StationName) == ("SN-4711", station)
    assert "InstitutionAddress" not in ds


def test_clean_descriptors_keeps_descriptions_without_identifiers() -> None:
    ds = _ct()
    anonymize.anonymize(ds, [Option.CLEAN_DESCRIPTORS], SECRET)
    assert ds.SeriesDescription == "axial"
    assert "CompressedSamples" not in ds.StudyDescription
    assert ds.StudyDescription.startswith("Head CT for")


def test_retain_device_identity_cleans_ae_titles() -> None:
    ds = _ct()
    ds.PerformedStationAETitle = "PACS_1CT1"  # holds the Patient ID
    ds.ScheduledStationAETitle = "CT_ROOM_2"
    anonymize.anonymize(ds, [Option.RETAIN_DEVICE_IDENTITY], SECRET)
    assert ds.PerformedStationAETitle == "PACS_***"  # C: the identifying part is cleaned out
    assert ds.ScheduledStationAETitle == "CT_ROOM_2"
    assert ds.DeviceSerialNumber == "SN-4711"  # K


def test_overlay_group_goes_with_its_data() -> None:
    ds = _ct()
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60003000, "OW", b"\0" * 4)
    anonymize.anonymize(ds, (), SECRET)
    assert not any(elem.tag >> 16 == 0x6000 for elem in ds)


def test_replacing_uids_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="uid_secret"):
        anonymize.anonymize(_ct(), ())


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError):
        anonymize.parse_options("retain_everything")
    assert anonymize.parse_options(" retain_uids, ,clean_descriptors ") == {
        Option.RETAIN_UIDS,
        Option.CLEAN_DESCRIPTORS,
    }
