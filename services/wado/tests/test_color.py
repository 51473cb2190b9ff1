"""Colour rendering of natively stored PALETTE COLOR and YBR_FULL_422 images (PS3.3
C.7.6.3.1.2, C.7.6.3.1.5), checked against pydicom's own decoding of real files."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels.processing import apply_color_lut

from wado import rendered
from wado.rendered import RenderParams


def _metadata(ds: pydicom.Dataset) -> dict[str, Any]:
    """The instance's DICOM JSON with binary values inline, as rendering sees it."""
    del ds.PixelData
    return dict(orjson.loads(ds.to_json(bulk_data_threshold=1 << 30)))


def _rendered(name: str) -> tuple[np.ndarray[Any, Any], pydicom.Dataset]:
    path = get_testdata_file(name)
    assert path is not None
    ds = pydicom.dcmread(path)
    frame = bytes(ds.PixelData)
    png = rendered.render(frame, _metadata(pydicom.dcmread(path)), RenderParams(), rendered.PNG)
    return np.asarray(Image.open(io.BytesIO(png))), ds


def test_palette_color_goes_through_its_lookup_tables() -> None:
    image, ds = _rendered("OBXXXX1A.dcm")
    expected = apply_color_lut(ds.pixel_array, ds) >> 8  # 16-bit palette entries
    assert image.shape == (600, 800, 3)
    assert np.array_equal(image, expected.astype(np.uint8))


def test_native_ybr_full_422_is_upsampled_and_converted_to_rgb() -> None:
    image, ds = _rendered("SC_ybr_full_422_uncompressed.dcm")
    expected = ds.pixel_array  # pydicom upsamples and converts to RGB
    assert image.shape == (100, 100, 3)
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 2
