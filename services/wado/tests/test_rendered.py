"""Rendering one frame to a consumer image (PS3.18 §8.3.5.1): windowing, inversion, viewport."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dicomcommon.errors import DicomwebError
from wado import rendered
from wado.rendered import RenderParams
from wado.voi import Window


def _metadata(
    photometric: str = "MONOCHROME2", extra: dict[str, int] | None = None
) -> dict[str, Any]:
    values = {
        "00280002": 1,
        "00280010": 2,
        "00280011": 2,
        "00280100": 16,
        "00280103": 0,
        **(extra or {}),
    }
    out: dict[str, Any] = {tag: {"vr": "US", "Value": [v]} for tag, v in values.items()}
    out["00280004"] = {"vr": "CS", "Value": [photometric]}
    return out


def _render(frame: bytes, metadata: dict[str, Any], params: RenderParams) -> np.ndarray[Any, Any]:
    png = rendered.render(frame, metadata, params, rendered.PNG)
    return np.asarray(Image.open(io.BytesIO(png)))


_RAMP = np.array([0, 100, 200, 300], "<u2").tobytes()


def test_requested_window_maps_center_to_mid_gray_and_clips_outside() -> None:
    image = _render(_RAMP, _metadata(), RenderParams(window=Window(200, 201)))
    assert image.ravel().tolist() == [0, 1, 128, 255]


def test_monochrome1_is_inverted() -> None:
    normal = _render(_RAMP, _metadata(), RenderParams())
    inverted = _render(_RAMP, _metadata("MONOCHROME1"), RenderParams())
    assert (255 - normal == inverted).all()


def test_instance_window_is_used_when_none_is_asked() -> None:
    metadata = _metadata()
    metadata["00281050"] = {"vr": "DS", "Value": [150]}
    metadata["00281051"] = {"vr": "DS", "Value": [101]}
    assert _render(_RAMP, metadata, RenderParams()).ravel().tolist() == [0, 1, 255, 255]


def test_viewport_scales_down_keeping_the_aspect() -> None:
    frame = np.zeros((4, 8), "<u2").tobytes()
    metadata = _metadata(extra={"00280010": 4, "00280011": 8})
    assert _render(frame, metadata, RenderParams(viewport=(4, 4))).shape == (2, 4)


def test_region_is_cut_before_scaling() -> None:
    frame = np.array([[0, 0, 300, 300], [0, 0, 300, 300]], "<u2").tobytes()
    metadata = _metadata(extra={"00280010": 2, "00280011": 4})
    image = _render(frame, metadata, RenderParams(window=Window(150, 100), region=(0.5, 0, 1, 1)))
    assert image.shape == (2, 2)
    assert (image == 255).all()


def test_window_parameter_takes_the_function_of_ps3_18() -> None:
    assert rendered.parse_window("40,400") == Window(40, 400, "LINEAR")
    assert rendered.parse_window("40,400,sigmoid") == Window(40, 400, "SIGMOID")
    assert rendered.parse_window("40,1,linear-exact").function == "LINEAR_EXACT"


@pytest.mark.parametrize("text", ["40", "40,0", "40,400,cubic", "a,b", "nan,1"])
def test_bad_window_parameter_is_a_400(text: str) -> None:
    with pytest.raises(DicomwebError) as raised:
        rendered.parse_window(text)
    assert raised.value.status == 400


def test_several_frames_as_gif_are_one_animation() -> None:
    frames = [np.full((2, 2), v, "<u2").tobytes() for v in (0, 300)]
    gif = rendered._encode(frames, _metadata(), RenderParams(window=Window(150, 100)), rendered.GIF)
    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 2
    image.seek(1)
    assert np.asarray(image.convert("L")).min() == 255
