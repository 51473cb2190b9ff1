"""Transfer syntax conversion with the installed codecs (PS3.18 §8.7.3.5)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

from wado import transcode

_TARGETS = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.RLELossless,
    uid.JPEGLSLossless,
    uid.JPEG2000Lossless,
]


def _read(name: str) -> bytes:
    path = get_testdata_file(name)
    assert isinstance(path, str)
    with open(path, "rb") as f:  # noqa: PTH123
        return f.read()


@pytest.mark.parametrize("target", _TARGETS)
def test_native_ct_converts_losslessly_to(target: str) -> None:
    data = _read("CT_small.dcm")
    out = pydicom.dcmread(io.BytesIO(transcode.transcode(data, target)))
    assert out.file_meta.TransferSyntaxUID == target
    assert out.SOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    assert np.array_equal(out.pixel_array, pydicom.dcmread(io.BytesIO(data)).pixel_array)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"])
def test_compressed_instances_decode_to_explicit_vr_little_endian(name: str) -> None:
    data = _read(name)
    out = pydicom.dcmread(io.BytesIO(transcode.transcode(data, uid.ExplicitVRLittleEndian)))
    assert out.file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian
    assert out.SOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    assert np.array_equal(out.pixel_array, pydicom.dcmread(io.BytesIO(data)).pixel_array)


def test_objects_without_pixel_data_convert_among_native_syntaxes_only() -> None:
    stored = uid.ImplicitVRLittleEndian
    assert transcode.can_transcode(stored, uid.ExplicitVRLittleEndian, has_pixel_data=False)
    assert not transcode.can_transcode(stored, uid.JPEG2000Lossless, has_pixel_data=False)


def test_jpeg_baseline_cannot_be_encoded_so_it_is_not_offered() -> None:
    assert transcode.can_decode(uid.JPEGBaseline8Bit)
    assert not transcode.can_transcode(uid.ExplicitVRLittleEndian, uid.JPEGBaseline8Bit)


def test_unknown_transfer_syntax_is_never_feasible() -> None:
    assert not transcode.can_transcode(uid.ExplicitVRLittleEndian, "1.2.3.4")
    assert transcode.can_transcode("1.2.3.4", "*")


def test_corrupt_data_raises_transcode_error() -> None:
    with pytest.raises(transcode.TranscodeError):
        transcode.transcode(b"DICM" * 10, uid.ImplicitVRLittleEndian)


def test_big_endian_instance_converts_to_explicit_little_endian() -> None:
    path = get_testdata_file("MR_small_bigendian.dcm")
    assert path is not None
    original = pydicom.dcmread(path)
    converted = pydicom.dcmread(
        io.BytesIO(transcode.transcode(Path(path).read_bytes(), ExplicitVRLittleEndian))
    )
    assert converted.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert converted.SOPInstanceUID == original.SOPInstanceUID
    assert (converted.pixel_array == original.pixel_array).all()
