"""Reading a file's SOP Instance UID: from the File Meta Information, else through pydicom."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomweb.header import NotDicom, sop_instance_uid


def _file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None
    return Path(path).read_bytes()


def test_part10_file_is_read_from_its_file_meta() -> None:
    uid, sop_class = sop_instance_uid(io.BytesIO(_file("CT_small.dcm")))
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert (uid, sop_class) == (ds.SOPInstanceUID, ds.SOPClassUID)


def test_dataset_without_file_meta_falls_back_to_its_sop_instance_uid() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    without_meta = io.BytesIO()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.preamble = None
    pydicom.dcmwrite(without_meta, ds, implicit_vr=True, little_endian=True)
    assert without_meta.getvalue()[128:132] != b"DICM"
    assert sop_instance_uid(io.BytesIO(without_meta.getvalue()))[0] == ds.SOPInstanceUID


def test_text_is_not_dicom() -> None:
    with pytest.raises(NotDicom):
        sop_instance_uid(io.BytesIO(b"just some notes\n" * 20))
