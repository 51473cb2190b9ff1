"""Rendered pictures of recent requests, kept in memory under everything that makes them.

A key names the instance's blob and version (a re-stored instance has a new one, so an entry
is never stale), the frames, the media type and every rendering parameter (window, viewport,
region, quality). Entries are bounded in bytes (``render_cache_bytes``), least recently used
first out. Identical requests that arrive while one is being rendered wait for that rendering
instead of starting their own (single flight); it runs to its end even when the request that
started it goes away. A picture that cannot be rendered (406: its stored frame is undecodable
or contradicts its description) is kept too, as that refusal, in a small share of the budget:
the same stored bytes fail the same way, so a repeat answers 406 at once instead of decoding
again; any other failure (an outage, a full conversion cap) is not kept. The cache sits behind
the handlers' index lookup, so every hit has passed the same authorization, study-group and
audit steps as a miss, and a deleted instance is a 404 whatever it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from prometheus_client import Counter, Gauge

from dicomcommon.errors import NotAcceptable
from wado.lru import BytesLru

LOOKUPS = Counter(
    "dicomweb_render_cache_lookups_total",
    "Rendered pictures asked of the cache: hit, refused (kept 406), joined (a rendering under"
    " way) or miss",
    ["outcome"],
)
_HIT, _REFUSED, _JOINED, _MISS = (LOOKUPS.labels(o) for o in ("hit", "refused", "joined", "miss"))
HELD = Gauge("dicomweb_render_cache_bytes", "Bytes of rendered pictures the cache holds")
REFUSALS_SHARE = 16  # refusals (a reason each, under 1 KiB) may take 1/16 of the budget


class RenderCache:
    """A byte-bounded LRU of rendered pictures with single-flight rendering."""

    def __init__(self, max_bytes: int) -> None:
        self._pictures: BytesLru[Hashable] = BytesLru(max_bytes)
        self._refusals: BytesLru[Hashable] = BytesLru(max_bytes // REFUSALS_SHARE)
        self._running: dict[Hashable, asyncio.Task[bytes]] = {}

    @property
    def size(self) -> int:
        return self._pictures.size

    def __len__(self) -> int:
        return len(self._pictures)

    def kept(self, key: Hashable) -> bytes | None:
        """The picture under ``key`` if kept (counted as a hit), ``NotAcceptable`` if its
        refusal is kept, else ``None`` (not counted: the caller goes on to ``get``, which
        counts the miss)."""
        found = self._pictures.get(key)
        if found is not None:
            _HIT.inc()
            return found
        reason = self._refusals.get(key)
        if reason is not None:
            _REFUSED.inc()
            raise NotAcceptable(reason.decode())
        return None

    async def get(self, key: Hashable, render: Callable[[], Awaitable[bytes]]) -> bytes:
        """The picture under ``key``: kept, being rendered, or rendered now by ``render``."""
        found = self.kept(key)
        if found is not None:
            return found
        task = self._running.get(key)
        (_JOINED if task is not None else _MISS).inc()
        if task is None:
            task = asyncio.ensure_future(render())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[bytes]) -> None:
        del self._running[key]
        if task.cancelled():
            return
        failure = task.exception()  # (marks a failure as seen)
        if failure is None:
            self._pictures.put(key, task.result())
            HELD.set(self._pictures.size)
        elif isinstance(failure, NotAcceptable):
            self._refusals.put(key, failure.message.encode())
