"""The cache of rendered pictures: hits under the same key only, a byte budget, one
rendering for identical concurrent requests, refusals (406) kept, other failures never."""

from __future__ import annotations

import asyncio

import pytest

from dicomcommon.errors import NotAcceptable
from wado.render_cache import REFUSALS_SHARE, RenderCache


class Renderer:
    """Counts its renderings; each waits for ``release`` so requests can overlap."""

    def __init__(self, size: int = 10) -> None:
        self.calls = 0
        self.size = size
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> bytes:
        self.calls += 1
        await self.release.wait()
        return bytes([self.calls % 256]) * self.size


async def test_a_hit_returns_the_same_bytes_without_rendering_again() -> None:
    cache, render = RenderCache(1000), Renderer()
    first = await cache.get(("blob", 1, (1,), "image/jpeg"), render)
    again = await cache.get(("blob", 1, (1,), "image/jpeg"), render)
    assert first == again and render.calls == 1


async def test_other_parameters_or_a_new_version_are_other_pictures() -> None:
    cache, render = RenderCache(1000), Renderer()
    pictures = {
        await cache.get(key, render)
        for key in [("blob", 1, "q90"), ("blob", 1, "q50"), ("blob", 2, "q90"), ("b2", 1, "q90")]
    }
    assert len(pictures) == 4 and render.calls == 4


async def test_the_byte_budget_holds_however_many_pictures_are_rendered() -> None:
    cache, render = RenderCache(1000), Renderer(size=100)
    for n in range(50):
        await cache.get(("blob", n), render)
        assert cache.size <= 1000
    assert len(cache) == 10
    await cache.get(("blob", 0), render)  # the oldest left first: rendered again
    assert render.calls == 51


async def test_identical_concurrent_requests_render_once() -> None:
    cache, render = RenderCache(1000), Renderer()
    render.release.clear()
    waiting = [asyncio.create_task(cache.get("key", render)) for _ in range(8)]
    await asyncio.sleep(0.01)
    render.release.set()
    results = await asyncio.gather(*waiting)
    assert render.calls == 1 and len(set(results)) == 1


async def test_a_rendering_outlives_the_request_that_started_it() -> None:
    cache, render = RenderCache(1000), Renderer()
    render.release.clear()
    leader = asyncio.create_task(cache.get("key", render))
    follower = asyncio.create_task(cache.get("key", render))
    await asyncio.sleep(0.01)
    leader.cancel()
    render.release.set()
    assert await follower == b"\x01" * 10
    assert await cache.get("key", render) == b"\x01" * 10 and render.calls == 1


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    cache = RenderCache(1000)
    gate = asyncio.Event()

    async def failing() -> bytes:
        await gate.wait()
        raise ValueError("undecodable")

    waiting = [asyncio.create_task(cache.get("key", failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    for task in waiting:
        with pytest.raises(ValueError, match="undecodable"):
            await task
    assert await cache.get("key", Renderer()) == b"\x01" * 10


async def test_a_zero_budget_keeps_nothing() -> None:
    cache, render = RenderCache(0), Renderer()
    await cache.get("key", render)
    await cache.get("key", render)
    assert render.calls == 2 and cache.size == 0


async def test_a_refusal_is_kept_and_answered_without_rendering_again() -> None:
    cache = RenderCache(1000 * REFUSALS_SHARE)
    calls = 0

    async def refusing() -> bytes:
        nonlocal calls
        calls += 1
        raise NotAcceptable("the frame cannot be rendered: undecodable")

    for _ in range(3):
        with pytest.raises(NotAcceptable, match="undecodable"):
            await cache.get("key", refusing)
    with pytest.raises(NotAcceptable, match="undecodable"):
        cache.kept("key")
    assert calls == 1 and cache.size == 0  # (refusals take no room from pictures)


async def test_refusals_keep_to_their_share_of_the_budget() -> None:
    cache = RenderCache(400 * REFUSALS_SHARE)

    async def refusing() -> bytes:
        raise NotAcceptable("x" * 100)

    for n in range(10):
        with pytest.raises(NotAcceptable):
            await cache.get(n, refusing)
    assert cache.kept(0) is None  # the oldest refusals left: asked again, rendered again
    with pytest.raises(NotAcceptable):
        cache.kept(9)
