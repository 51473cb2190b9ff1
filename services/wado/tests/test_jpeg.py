"""JPEG through libjpeg-turbo in imagecodecs (``wado.jpeg``): the pixels of every JPEG test file
pydicom ships and every JPEG template of the bench corpus are GDCM's, bit for bit, colour
included; 12-bit JPEG Extended, which GDCM, Pillow and libjpeg refuse, decodes to the picture
its lossless twin holds; and 8-bit samples fill a 16-bit container when the frame says so."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.decoders.base import get_decoder

from bench.corpus import TEMPLATES
from wado import decoders, jpeg, pixels

PYDICOM_JPEG_FILES = [
    "JPEG-LL.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm",
    "SC_rgb_dcmtk_+eb+cy+n1.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm",
    "SC_jpeg_no_color_transform.dcm",
    "SC_jpeg_no_color_transform_2.dcm",
    "color3d_jpeg_baseline.dcm",
]
TWELVE_BIT, ITS_LOSSLESS_TWIN = "JPEG-lossy.dcm", "JPEG-LL.dcm"


def _syntax(name: str) -> str:
    meta = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True).file_meta
    return str(meta.TransferSyntaxUID)


def _ours(ds: Dataset, description: dict[str, Any] | None = None) -> bytes:
    """Frame 1 through the app's decoding (``pixels.decode_frame``), our plugin first."""
    decoders.prefer_fastest()
    count = int(ds.get("NumberOfFrames", 1) or 1)
    frame = next(generate_frames(ds.PixelData, number_of_frames=count))
    described = description or pixels.describe(ds.to_json_dict())
    return pixels.decode_frame([frame], described, ds.file_meta.TransferSyntaxUID)


def test_the_plugin_is_first_for_every_jpeg_process() -> None:
    decoders.prefer_fastest()
    for syntax in jpeg.SYNTAXES:
        tried = list(get_decoder(pydicom.uid.UID(syntax))._validate_plugins())
        assert tried[0] == decoders.OWN
        assert "gdcm" in tried  # the fall-backs stay


@pytest.mark.parametrize(
    "name",
    sorted(
        {*PYDICOM_JPEG_FILES, *(n for n in TEMPLATES if _syntax(n) in jpeg.SYNTAXES)} - {TWELVE_BIT}
    ),
)
def test_frames_decode_as_gdcm_decodes_them(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    by_gdcm, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(
        ds, index=0, decoding_plugin="gdcm"
    )
    got = np.frombuffer(_ours(ds), dtype=by_gdcm.dtype.newbyteorder("<"))
    assert (got.reshape(by_gdcm.shape) == by_gdcm).all()


def test_twelve_bit_jpeg_decodes_to_the_picture_of_its_lossless_twin() -> None:
    lossy = pydicom.dcmread(get_testdata_file(TWELVE_BIT))
    assert lossy.file_meta.TransferSyntaxUID == pydicom.uid.JPEGExtended12Bit
    twin = pydicom.dcmread(get_testdata_file(ITS_LOSSLESS_TWIN)).pixel_array.astype(np.int64)
    got = np.frombuffer(_ours(lossy), dtype="<u2").reshape(twin.shape).astype(np.int64)
    assert got.max() < 1 << 12
    assert np.abs(got - twin).mean() < 3  # lossy: close, not equal
    assert np.corrcoef(got.ravel(), twin.ravel())[0, 1] > 0.98


def test_eight_bit_samples_fill_a_sixteen_bit_container() -> None:
    ds = pydicom.dcmread(get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm"))
    as_stored = np.frombuffer(_ours(ds), dtype=np.uint8)
    described = {**pixels.describe(ds.to_json_dict()), "bits_allocated": 16}
    widened = np.frombuffer(_ours(ds, described), dtype="<u2")
    assert widened.dtype.itemsize == 2 and (widened == as_stored).all()
