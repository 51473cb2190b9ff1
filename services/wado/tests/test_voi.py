"""The grayscale pipeline (PS3.3 C.11): Modality LUT, VOI LUT Sequence, windows with the
LINEAR, LINEAR_EXACT and SIGMOID functions, a width of 1 as a threshold."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from dicomcommon.errors import DicomwebError
from wado import voi
from wado.voi import Window

_VALUES = np.array([0.0, 99.0, 100.0, 101.0, 200.0])


def test_linear_window_of_width_one_is_a_hard_threshold() -> None:
    out = voi.apply_window(_VALUES, Window(100, 1))
    assert out.tolist() == [0, 0, 255, 255, 255]  # above center - 0.5 is white


def test_linear_exact_maps_center_to_half_without_the_half_pixel_shift() -> None:
    out = voi.apply_window(np.array([50.0, 100.0, 150.0]), Window(100, 100, "LINEAR_EXACT"))
    assert out.tolist() == [0, 128, 255]


def test_sigmoid_is_symmetric_around_the_center() -> None:
    out = voi.apply_window(np.array([0.0, 100.0, 200.0]), Window(100, 50, "SIGMOID"))
    assert out[1] == 128
    assert int(out[0]) + int(out[2]) == 255
    assert out[0] < 5


@pytest.mark.parametrize(
    ("width", "function"), [(0.5, "LINEAR"), (0, "SIGMOID"), (0, "LINEAR_EXACT"), (9, "CUBIC")]
)
def test_windows_the_standard_forbids_are_bad_requests(width: float, function: str) -> None:
    with pytest.raises(DicomwebError):
        Window(100, width, function)


def _lut_item(first: int, data: list[int], bits: int = 8, inline: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"00283002": {"vr": "US", "Value": [len(data), first, bits]}}
    if inline:
        encoded = base64.b64encode(np.asarray(data, "<u2").tobytes()).decode()
        item["00283006"] = {"vr": "OW", "InlineBinary": encoded}
    else:
        item["00283006"] = {"vr": "US", "Value": data}
    return item


@pytest.mark.parametrize("inline", [False, True])
def test_voi_lut_sequence_maps_and_clamps_outside_its_range(inline: bool) -> None:
    metadata = {"00283010": {"vr": "SQ", "Value": [_lut_item(10, [0, 51, 255], inline=inline)]}}
    pixels = np.array([[0, 10, 11, 12, 500]])
    assert voi.to_display(pixels, metadata, None).tolist() == [[0, 0, 51, 255, 255]]


def test_modality_lut_sequence_comes_before_the_window() -> None:
    item = _lut_item(0, [100, 200], bits=16)
    metadata = {"00283000": {"vr": "SQ", "Value": [item]}}
    assert voi.modality(np.array([0, 1, 7]), metadata).tolist() == [100, 200, 200]


def test_instance_window_uses_its_voi_lut_function() -> None:
    metadata = {
        "00281050": {"vr": "DS", "Value": [100]},
        "00281051": {"vr": "DS", "Value": [50]},
        "00281056": {"vr": "CS", "Value": ["SIGMOID"]},
    }
    out = voi.to_display(np.array([100]), metadata, None)
    assert out.tolist() == [128]
    assert voi.instance_window(metadata) == Window(100, 50, "SIGMOID")


def test_requested_window_overrides_the_instance_lut() -> None:
    metadata = {"00283010": {"vr": "SQ", "Value": [_lut_item(0, [0, 0])]}}
    assert voi.to_display(np.array([5]), metadata, Window(0, 1)).tolist() == [255]


_RESCALED = {voi.RESCALE_SLOPE: {"Value": [2.5]}, voi.RESCALE_INTERCEPT: {"Value": [-1024]}}
_INVERTING = {voi.RESCALE_SLOPE: {"Value": [-1]}}
_WINDOWED = {voi.WINDOW_CENTER: {"Value": [40]}, voi.WINDOW_WIDTH: {"Value": [400]}}


def _modality_lut(rng: np.random.Generator) -> dict[str, Any]:
    item = {
        voi.LUT_DESCRIPTOR: {"Value": [4096, 0, 16]},
        voi.LUT_DATA: {"Value": rng.integers(0, 4000, 4096).tolist()},
    }
    return {voi.MODALITY_LUT_SEQUENCE: {"Value": [item]}}


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [(np.uint8, 0, 256), (np.uint16, 300, 4000), (np.int16, -2000, 3000), (np.uint16, 0, 65536)],
)
def test_the_table_of_the_value_range_maps_exactly_as_each_pixel_would(
    dtype: type, low: int, high: int
) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(low, high, size=(60, 70)).astype(dtype)
    windows = [None, Window(100, 500), Window(100, 1), Window(50, 300, "SIGMOID")]
    for metadata in [{}, _RESCALED, _INVERTING, _WINDOWED, _modality_lut(rng)]:
        for window in [*windows, Window(0, 80, "LINEAR_EXACT")]:
            values = voi.modality(pixels, metadata)
            span = (float(values.min()), float(values.max()))
            each = voi._voi(values, metadata, window, lambda span=span: span)
            assert (voi.to_display(pixels, metadata, window) == each).all(), (metadata, window)
