"""Pictures rendered ahead (``wado.prerender``) against the real stack: a stored instance's
thumbnail and default rendering are made in the background, so their first requests are
cache hits showing the same picture a request would render, and a deleted instance is a 404
whatever was made. Runs its own stack with the setting on (it is off by default, and the
background renderings would disturb other modules' cache counts)."""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    environ = {
        **os.environ,
        "DICOMWEB_WADO_PRERENDER_THUMBNAILS": "true",
        "DICOMWEB_WADO_PRERENDER_RENDERED": "true",
    }
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("prerender"))
    with Stack(settings, environ) as running:
        yield running


def _metric(stack: Stack, name: str, outcome: str) -> float:
    text = httpx.get(f"{stack.service_urls['wado'][0]}/metrics", timeout=5).text
    found = re.search(rf'^{name}{{outcome="{outcome}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _stored_and_rendered_ahead(stack: Stack, name: str = "CT_small.dcm") -> str:
    """Store one instance (this module's stack sees nothing else meanwhile) and wait until
    its two pictures are made; the instance's URL."""
    made = _metric(stack, "dicomweb_prerendered_total", "made")
    ds = instances.fresh(name)
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    deadline = time.monotonic() + 60
    while _metric(stack, "dicomweb_prerendered_total", "made") < made + 2:
        assert time.monotonic() < deadline, "the pictures were not rendered ahead in time"
        time.sleep(0.1)
    path = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    return f"{stack.dicomweb_url}/{path}/instances/{ds.SOPInstanceUID}"


def _lookups(stack: Stack, outcome: str) -> float:
    return _metric(stack, "dicomweb_render_cache_lookups_total", outcome)


def _picture(url: str, accept: str = "image/jpeg") -> np.ndarray:
    response = httpx.get(url, headers={"Accept": accept}, timeout=60)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)), dtype=np.int16)


def test_the_first_requests_of_a_stored_instance_are_hits_showing_its_picture(
    stack: Stack,
) -> None:
    url = _stored_and_rendered_ahead(stack, "US1_J2KR.dcm")
    hits, misses = _lookups(stack, "hit"), _lookups(stack, "miss")
    thumbnail, whole = _picture(f"{url}/thumbnail"), _picture(f"{url}/rendered")
    assert _lookups(stack, "hit") == hits + 2 and _lookups(stack, "miss") == misses
    assert thumbnail.shape[:2] == (96, 128) and whole.shape[:2] == (480, 640)
    fresh = _picture(f"{url}/rendered", accept="image/png")  # rendered now: a miss
    assert _lookups(stack, "miss") == misses + 1
    assert np.abs(whole - fresh).mean() < 3  # the same picture, give or take JPEG's loss


def test_a_deleted_instance_is_not_served_from_its_picture_made_ahead(stack: Stack) -> None:
    url = _stored_and_rendered_ahead(stack)
    hits = _lookups(stack, "hit")
    assert httpx.delete(url, timeout=60).status_code == 204
    for kind in ("thumbnail", "rendered"):
        gone = httpx.get(f"{url}/{kind}", headers={"Accept": "image/jpeg"}, timeout=60)
        assert gone.status_code == 404, gone.text
    assert _lookups(stack, "hit") == hits
