"""JPEG 2000 frames shown smaller than they are, decoded at a reduced resolution
(``wado.reduced``): the picture matches the one made from the whole frame (same size and
brightness, the same structure; pixels differ by the filter that shrank them, and by
windowing before or after the shrink at sharp edges); the level chosen is the smallest still
at least the picture's size; whatever it cannot do falls back to the whole frame."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from wado import pixels, reduced, rendered
from wado.rendered import RenderParams
from wado.voi import Window


def _instance(name: str) -> tuple[bytes, dict[str, Any], str]:
    ds = pydicom.dcmread(get_testdata_file(name))
    metadata = {
        k: v for k, v in ds.to_json_dict(bulk_data_threshold=1 << 30).items() if k != "7FE00010"
    }
    return (
        next(generate_frames(ds.PixelData, number_of_frames=1)),
        metadata,
        ds.file_meta.TransferSyntaxUID,
    )


def _png(data: bytes) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(io.BytesIO(data))).astype(np.int16)


@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("693_J2KR.dcm", None),  # signed, 14 bits, lossless
        ("693_J2KI.dcm", Window(40, 400)),  # signed, 16 bits, lossy
        ("MR2_J2KI.dcm", None),  # 12 bits
        ("RG3_J2KI.dcm", Window(512, 1024)),  # 10 bits, 1760 x 1760
        ("US1_J2KR.dcm", None),  # RGB
    ],
)
def test_a_thumbnail_from_a_reduced_decode_matches_the_whole_frames(
    name: str, window: Window | None
) -> None:
    frame, metadata, syntax = _instance(name)
    described = dict(metadata)
    if int(metadata["00280002"]["Value"][0]) == 3:
        described["00280004"] = {"vr": "CS", "Value": ["RGB"]}
        described["00280006"] = {"vr": "US", "Value": [0]}
    description = pixels.describe(metadata)
    assert reduced.decode_smaller(frame, description, syntax, (128, 128)) is not None
    params = RenderParams(window=window, viewport=(128, 128))
    reduced_png = rendered._decode_and_encode(
        rendered.StoredFrames([frame], syntax, description, described), params, rendered.PNG
    )
    whole = pixels.decode_frame([frame], description, syntax)
    whole_png = rendered.render(whole, described, params, rendered.PNG)
    small, reference = _png(reduced_png), _png(whole_png)
    assert small.shape == reference.shape
    assert abs(small.mean() - reference.mean()) <= 2.0
    assert np.abs(small - reference).mean() <= 10.0
    correlation = np.corrcoef(small.ravel(), reference.ravel())[0, 1]
    assert correlation >= 0.9, correlation


@pytest.mark.parametrize(
    ("size", "viewport", "factor"),
    [
        ((1760, 1760), (128, 128), 3),  # 220 pixels is the smallest level of at least 128
        ((512, 512), (128, 128), 2),
        ((640, 480), (128, 128), 2),  # the picture is 128 x 96: 160 x 120 still covers it
        ((512, 512), (300, 300), 0),  # 256 would be smaller than the picture
        ((64, 64), (128, 128), 0),  # never larger than the frame
    ],
)
def test_the_level_is_the_smallest_at_least_the_pictures_size(
    size: tuple[int, int], viewport: tuple[int, int], factor: int
) -> None:
    assert reduced.reduce_factor(*size, viewport) == factor


def test_what_it_cannot_help_with_falls_back_to_the_whole_frame() -> None:
    frame, metadata, syntax = _instance("RG3_J2KI.dcm")
    description = pixels.describe(metadata)
    assert reduced.decode_smaller(frame, description, syntax, (4000, 4000)) is None
    assert reduced.decode_smaller(frame[:200], description, syntax, (64, 64)) is None
    assert reduced.decode_smaller(b"\x00" * 200, description, syntax, (64, 64)) is None
    jpeg_ls, metadata, syntax = _instance("emri_small_jpeg_ls_lossless.dcm")
    assert reduced.decode_smaller(jpeg_ls, pixels.describe(metadata), syntax, (8, 8)) is None


def test_a_reduced_decode_is_native_pixels_of_the_reduced_size() -> None:
    frame, metadata, syntax = _instance("RG3_J2KI.dcm")
    description = pixels.describe(metadata)
    smaller = reduced.decode_smaller(frame, description, syntax, (128, 128))
    assert smaller is not None
    data, rows, columns = smaller
    assert (rows, columns) == (220, 220)
    assert len(data) == rows * columns * 2


def test_every_frame_of_an_animation_is_decoded_smaller_at_one_size() -> None:
    ds = pydicom.dcmread(get_testdata_file("emri_small_jpeg_2k_lossless.dcm"))
    metadata = {
        k: v for k, v in ds.to_json_dict(bulk_data_threshold=1 << 30).items() if k != "7FE00010"
    }
    syntax, count = ds.file_meta.TransferSyntaxUID, int(ds.NumberOfFrames)
    stored = list(generate_frames(ds.PixelData, number_of_frames=count))
    description = pixels.describe(metadata)
    params = RenderParams(window=Window(400, 800), viewport=(16, 16))
    gif = Image.open(
        io.BytesIO(
            rendered._decode_and_encode(
                rendered.StoredFrames(stored, syntax, description, metadata), params, rendered.GIF
            )
        )
    )
    assert gif.n_frames == count and gif.size == (16, 16)
    whole = [pixels.decode_frame([f], description, syntax) for f in stored]
    reference = Image.open(io.BytesIO(rendered._encode(whole, metadata, params, rendered.GIF)))
    for number in (0, count - 1):
        gif.seek(number)
        reference.seek(number)
        small, expected = (
            np.asarray(gif.convert("L"), np.int16),
            np.asarray(reference.convert("L"), np.int16),
        )
        assert abs(small.mean() - expected.mean()) <= 3.0
        assert np.abs(small - expected).mean() <= 16.0  # (and GIF palettes dither)
