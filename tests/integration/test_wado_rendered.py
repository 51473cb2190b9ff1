"""WADO-RS rendered resources through the gateway against the real stack (PS3.18 §10.4.1.1.3):
study and series as multipart of rendered instances, animated GIF of a multi-frame instance,
PALETTE COLOR and native YBR_FULL_422 in colour, windows with functions; bulk data Range on
encapsulated pixel data and 416 with the length; 12-bit JPEG Extended rendered and its frame
decoded."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

_FILES = {
    "ct": "CT_small.dcm",
    "cine": "emri_small.dcm",
    "palette": "OBXXXX1A.dcm",
    "ybr422": "SC_ybr_full_422_uncompressed.dcm",
    "jpeg": "SC_rgb_jpeg_dcmtk.dcm",
    "jpeg12": "JPEG-lossy.dcm",  # 12-bit JPEG Extended (``wado.jpeg``)
}


@dataclass(frozen=True)
class Study:
    root: str
    study: str
    series: str
    sop: dict[str, str]

    def url(self, name: str) -> str:
        return f"{self.root}/studies/{self.study}/series/{self.series}/instances/{self.sop[name]}"


@pytest.fixture(scope="module")
def study(stack: Stack) -> Iterator[Study]:
    study_uid, series_uid = generate_uid(), generate_uid()
    sops = {}
    for name, file in _FILES.items():
        ds = instances.fresh(file, study_uid, series_uid)
        response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
        assert response.status_code == 200, response.text
        sops[name] = ds.SOPInstanceUID
    yield Study(stack.dicomweb_url, study_uid, series_uid, sops)


def _image(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def _parts(response: httpx.Response) -> list[bytes]:
    assert response.status_code == 200, response.text
    boundary = response.headers["content-type"].split("boundary=")[1].strip('"')
    chunks = response.content.split(f"--{boundary}".encode())[1:-1]
    return [c.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for c in chunks]


def test_series_rendered_is_a_multipart_of_every_instance(study: Study) -> None:
    accept = 'multipart/related; type="image/jpeg"'
    url = f"{study.root}/studies/{study.study}/series/{study.series}/rendered"
    parts = _parts(httpx.get(url, headers={"Accept": accept}, timeout=60))
    assert len(parts) == len(_FILES)
    assert all(Image.open(io.BytesIO(p)).format == "JPEG" for p in parts)
    whole = f"{study.root}/studies/{study.study}/rendered"
    assert len(_parts(httpx.get(whole, headers={"Accept": accept}, timeout=60))) == len(_FILES)


def test_study_thumbnail_is_one_representative_image(study: Study) -> None:
    url = f"{study.root}/studies/{study.study}/thumbnail"
    image = _image(httpx.get(url, headers={"Accept": "image/png"}, timeout=60))
    assert image.format == "PNG" and max(image.size) <= 128


def test_multi_frame_instance_as_gif_is_animated(study: Study) -> None:
    image = _image(httpx.get(f"{study.url('cine')}/rendered", headers={"Accept": "image/gif"}))
    assert image.format == "GIF" and image.n_frames == 10
    jpeg = _image(httpx.get(f"{study.url('cine')}/rendered", headers={"Accept": "image/jpeg"}))
    assert jpeg.format == "JPEG"
    frames = httpx.get(
        f"{study.url('cine')}/frames/2,3/rendered",
        headers={"Accept": 'multipart/related; type="image/png"'},
    )
    assert len(_parts(frames)) == 2


@pytest.mark.parametrize("name", ["palette", "ybr422", "jpeg"])
def test_colour_images_render_in_colour(study: Study, name: str) -> None:
    image = _image(httpx.get(f"{study.url(name)}/rendered", headers={"Accept": "image/png"}))
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert image.mode == "RGB"
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() > 30  # not a gray image


def test_a_twelve_bit_jpeg_renders_and_its_frame_decodes(study: Study) -> None:
    image = _image(httpx.get(f"{study.url('jpeg12')}/rendered", timeout=60))
    assert image.format == "JPEG" and image.size == (256, 1024)
    assert np.asarray(image).std() > 10  # a picture, not a flat field
    frame = httpx.get(
        f"{study.url('jpeg12')}/frames/1",
        headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        timeout=60,
    )
    values = np.frombuffer(_parts(frame)[0], dtype="<u2")
    assert values.size == 256 * 1024 and values.max() < 1 << 12


def test_window_width_one_is_a_threshold_and_functions_differ(study: Study) -> None:
    url = f"{study.url('ct')}/rendered"
    png = {"Accept": "image/png"}
    threshold = np.asarray(_image(httpx.get(url, params={"window": "100,1"}, headers=png)))
    assert set(np.unique(threshold)) <= {0, 255}
    sigmoid = httpx.get(url, params={"window": "100,400,sigmoid"}, headers=png)
    linear = httpx.get(url, params={"window": "100,400"}, headers=png)
    assert not np.array_equal(np.asarray(_image(sigmoid)), np.asarray(_image(linear)))
    assert httpx.get(url, params={"window": "100,400,cubic"}, headers=png).status_code == 400


def test_range_on_encapsulated_pixel_data_and_416_with_the_length(study: Study) -> None:
    url = f"{study.url('jpeg')}/bulkdata/7FE00010"
    single = {"Accept": "image/jpeg; transfer-syntax=*"}
    whole = httpx.get(url, headers=single)
    assert whole.status_code == 200, whole.text
    ranged = httpx.get(url, headers={**single, "Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == whole.content[:10]
    assert ranged.headers["content-range"] == f"bytes 0-9/{len(whole.content)}"
    beyond = httpx.get(url, headers={**single, "Range": f"bytes={len(whole.content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole.content)}"
    native = httpx.get(f"{study.url('ct')}/bulkdata/7FE00010", headers={"Range": "bytes=999999-"})
    assert native.status_code == 416 and native.headers["content-range"].startswith("bytes */")
