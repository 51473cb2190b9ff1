"""The cache of rendered pictures against the real stack (``wado.render_cache``): a repeat is
a hit with identical bytes, other parameters are other pictures, a re-stored instance is
rendered anew, the byte budget holds, identical concurrent requests render once, and ETags
answer 304. Runs its own stack: duplicates overwrite (to re-store an instance), the cache
has a small budget (to fill it), and pictures are made in a worker process (the session
stack makes them in threads)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

BUDGET = 256 << 10  # pictures up to 64 KiB each are kept


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    environ = {
        **os.environ,
        "DICOMWEB_STOW_DUPLICATE_POLICY": "overwrite",
        "DICOMWEB_WADO_RENDER_CACHE_BYTES": str(BUDGET),
        "DICOMWEB_WADO_RENDER_PROCESSES": "1",
    }
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("render-cache"))
    with Stack(settings, environ) as running:
        yield running


def _stored(stack: Stack, name: str = "CT_small.dcm") -> tuple[Dataset, str]:
    ds = instances.fresh(name)
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    path = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    return ds, f"{stack.dicomweb_url}/{path}/instances/{ds.SOPInstanceUID}"


def _get(url: str, accept: str = "image/jpeg", **headers: str) -> httpx.Response:
    response = httpx.get(url, headers={"Accept": accept, **headers}, timeout=60)
    assert response.status_code in (200, 304), response.text
    return response


def _metric(stack: Stack, name: str, outcome: str | None = None) -> float:
    text = httpx.get(f"{stack.service_urls['wado'][0]}/metrics", timeout=5).text
    labels = f'{{outcome="{outcome}"}}' if outcome else ""
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _lookups(stack: Stack, outcome: str) -> float:
    return _metric(stack, "dicomweb_render_cache_lookups_total", outcome)


def test_a_repeated_rendering_is_a_hit_with_identical_bytes(stack: Stack) -> None:
    _, url = _stored(stack)
    first = _get(f"{url}/rendered")
    hits = _lookups(stack, "hit")
    again = _get(f"{url}/rendered")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert _lookups(stack, "hit") == hits + 1
    uri = (
        f"{stack.dicomweb_url.removesuffix('/dicom-web')}/wado?requestType=WADO"
        f"&studyUID={url.split('/studies/')[1].split('/')[0]}"
        f"&seriesUID={url.split('/series/')[1].split('/')[0]}&objectUID={url.rsplit('/', 1)[1]}"
    )
    assert _get(uri).content == first.content  # the same picture as WADO-RS's: shared
    assert _lookups(stack, "hit") == hits + 2


def test_other_parameters_are_other_pictures(stack: Stack) -> None:
    _, url = _stored(stack)
    variants = [
        _get(f"{url}/rendered"),
        _get(f"{url}/rendered?quality=40"),
        _get(f"{url}/rendered?viewport=64,64"),
        _get(f"{url}/rendered?window=100,200"),
        _get(f"{url}/rendered?window=100,200,sigmoid"),
        _get(f"{url}/rendered", accept="image/png"),
        _get(f"{url}/thumbnail"),
        _get(f"{url}/frames/1/rendered?quality=40"),
    ]
    distinct = variants[:-1]
    assert len({v.headers["etag"] for v in distinct}) == 7
    # (the 128-pixel thumbnail of a 128-pixel image looks like the whole rendering)
    assert len({v.content for v in distinct if v is not variants[6]}) == 6
    same, low_quality = variants[-1], variants[1]  # frame 1 of a one-frame instance: the same
    assert same.headers["etag"] == low_quality.headers["etag"]
    assert same.content == low_quality.content


def test_a_matching_if_none_match_is_304_without_a_body(stack: Stack) -> None:
    _, url = _stored(stack)
    etag = _get(f"{url}/rendered").headers["etag"]
    unchanged = _get(f"{url}/rendered", **{"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert _get(f"{url}/rendered?quality=30", **{"If-None-Match": etag}).status_code == 200


def test_a_restored_instance_is_not_served_from_the_old_picture(stack: Stack) -> None:
    ds, url = _stored(stack)
    before = _get(f"{url}/rendered", accept="image/png")
    pixels = ds.pixel_array
    ds.PixelData = (pixels.max() - pixels + pixels.min()).astype(pixels.dtype).tobytes()
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    after = _get(f"{url}/rendered", accept="image/png")
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content != before.content
    stale = _get(f"{url}/rendered", accept="image/png", **{"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200


def test_the_byte_budget_holds_over_many_distinct_pictures(stack: Stack) -> None:
    _, url = _stored(stack, "693_UNCI.dcm")
    sent = 0
    for side in range(500, 470, -1):
        sent += len(_get(f"{url}/rendered?viewport={side},{side}", accept="image/png").content)
        assert _metric(stack, "dicomweb_render_cache_bytes") <= BUDGET
    assert sent > 2 * BUDGET  # the cache had to let pictures go
    misses = _lookups(stack, "miss")
    _get(f"{url}/rendered?viewport=500,500", accept="image/png")  # the least recently used left
    assert _lookups(stack, "miss") == misses + 1


def test_identical_concurrent_requests_render_once(stack: Stack) -> None:
    _, url = _stored(stack, "693_UNCI.dcm")
    misses = _lookups(stack, "miss")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _get(f"{url}/rendered?quality=77").content, range(8)))
    assert len(set(answers)) == 1
    assert _lookups(stack, "miss") == misses + 1


def test_an_undecodable_picture_is_406_every_time_and_decoded_once(stack: Stack) -> None:
    ds = instances.fresh()
    ds.PixelData = bytes(len(ds.PixelData) // 2)  # half the pixels the description promises
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code in (200, 202)
    path = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    url = f"{stack.dicomweb_url}/{path}/instances/{ds.SOPInstanceUID}/rendered"
    codes = {httpx.get(url, headers={"Accept": "image/jpeg"}, timeout=60).status_code}
    refused, misses = _lookups(stack, "refused"), _lookups(stack, "miss")
    again = httpx.get(url, headers={"Accept": "image/jpeg"}, timeout=60)
    codes.add(again.status_code)
    assert np.array(sorted(codes)).tolist() == [406]
    assert _lookups(stack, "refused") == refused + 1 and _lookups(stack, "miss") == misses


def test_a_deleted_instance_is_not_served_from_its_cached_picture(stack: Stack) -> None:
    _, url = _stored(stack)
    etag = _get(f"{url}/rendered").headers["etag"]
    hits = _lookups(stack, "hit")
    assert _get(f"{url}/rendered").headers["etag"] == etag  # kept, and answered from the cache
    assert _lookups(stack, "hit") == hits + 1
    assert httpx.delete(url, timeout=60).status_code == 204
    for headers in ({}, {"If-None-Match": etag}):
        gone = httpx.get(f"{url}/rendered", headers={"Accept": "image/jpeg", **headers}, timeout=60)
        assert gone.status_code == 404, gone.text
    assert _lookups(stack, "hit") == hits + 1


def test_a_series_thumbnail_is_kept_like_its_instance_picture(stack: Stack) -> None:
    _, url = _stored(stack)
    series = url.rsplit("/instances/", 1)[0]
    first = _get(f"{series}/thumbnail")
    hits = _lookups(stack, "hit")
    again = _get(f"{series}/thumbnail")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert _lookups(stack, "hit") == hits + 1
    assert _get(f"{url}/thumbnail").headers["etag"] == first.headers["etag"]
    unchanged = _get(f"{series}/thumbnail", **{"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304


def test_a_jpeg_2000_thumbnail_fits_its_box_and_keeps_the_aspect(stack: Stack) -> None:
    _, url = _stored(stack, "US1_J2KR.dcm")  # 640 x 480, decoded at 160 x 120 for the box
    for path, size in (("thumbnail", (128, 96)), ("rendered?viewport=64,64", (64, 48))):
        image = Image.open(io.BytesIO(_get(f"{url}/{path}").content))
        assert image.size == size and image.mode == "RGB"
        assert 10 < np.asarray(image).mean() < 245  # a picture, not a blank
    whole = Image.open(io.BytesIO(_get(f"{url}/rendered").content))
    assert whole.size == (640, 480)


def test_nothing_is_rendered_ahead_when_the_setting_is_off(stack: Stack) -> None:
    _, url = _stored(stack)
    misses, hits = _lookups(stack, "miss"), _lookups(stack, "hit")
    _get(f"{url}/thumbnail")
    assert _lookups(stack, "miss") == misses + 1 and _lookups(stack, "hit") == hits
    assert _metric(stack, "dicomweb_prerendered_total", "made") == 0
