"""The pictures made ahead (``wado.prerender``) are those the requests they stand for ask:
the same parameters, so the same cache key."""

from __future__ import annotations

from starlette.requests import Request

from wado import prerender
from wado.rendered import RenderParams


def _params_of(path: str) -> RenderParams:
    request = Request({"type": "http", "method": "GET", "path": path, "query_string": b""})
    return RenderParams.of(request, path.endswith("/thumbnail"))


def test_the_pictures_made_ahead_are_a_thumbnail_and_a_default_rendering() -> None:
    asked = [_params_of("/studies/1/series/2/instances/3/thumbnail")]
    asked.append(_params_of("/studies/1/series/2/instances/3/rendered"))
    assert prerender.default_pictures(True, True) == asked
    assert prerender.default_pictures(True, False) == asked[:1]
    assert prerender.default_pictures(False, True) == asked[1:]
    assert prerender.default_pictures(False, False) == []
