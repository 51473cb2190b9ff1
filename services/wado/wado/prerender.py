"""Pictures rendered ahead of their first request: each instance the change feed says was
stored (created or replaced) gets its thumbnail and / or its default rendering made in the
background and put in the cache of rendered pictures (``wado.render_cache``), so a study list
or a viewer's first look does not wait on a decode.

Each process follows the whole feed for its own cache, from its newest entry at start
(``LISTEN`` wake-ups, ``dicomcommon.schema.wado``'s ``FEED_SINCE`` pages), renders one picture
at a time and only while no request's conversion is running (the lowest priority), and, when
more than ``prerender_max_lag`` entries behind (a bulk import), skips ahead to the newest.
Ingest never waits for it; a picture it misses (skipped or evicted) is rendered at its first
request as before. It reads
the index as a request would and serves nothing: a request still finds the instance's row
(a deleted instance is a 404), passes authorization and is audited before any cache hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter

from dicomcommon.adapters import db
from dicomcommon.adapters.events import FeedAction
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.errors import DicomwebError
from dicomcommon.schema import wado as reads
from wado import index, rendered, rendered_parts
from wado.context import WadoContext
from wado.index import Scope
from wado.rendered import Picture, RenderParams

log = logging.getLogger(__name__)
PAGE = 100
PRERENDERED = Counter(
    "dicomweb_prerendered_total",
    "Pictures rendered ahead of a request: made, refused (406) or skipped (gone, busy, behind)",
    ["outcome"],
)


def default_pictures(thumbnails: bool, rendered_default: bool) -> list[RenderParams]:
    """The parameters of the pictures made ahead: a thumbnail (``/thumbnail``) and / or the
    default rendering (``/rendered`` with no parameters), both as JPEG."""
    thumbnail = RenderParams(viewport=(rendered.THUMBNAIL_SIZE, rendered.THUMBNAIL_SIZE))
    return [*([thumbnail] if thumbnails else []), *([RenderParams()] if rendered_default else [])]


class Prerenderer:
    """One background task per wado process that follows the feed and renders ahead."""

    def __init__(
        self, ctx: WadoContext, watch: FeedWatch, pictures: Sequence[RenderParams], max_lag: int
    ) -> None:
        self.ctx = ctx
        self.watch = watch
        self.pictures = list(pictures)
        self.max_lag = max_lag
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_forever(), name="prerender")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow_forever(self) -> None:
        last: int | None = None
        while True:
            try:
                last = await self._follow(last)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: the next pages are read when it heals
                log.warning("rendering ahead paused (%s); retrying", exc)
                await asyncio.sleep(5)

    async def _follow(self, last: int | None) -> int:
        """Render the pictures of the feed's entries after ``last``, page by page, forever."""
        row = await db.fetchrow(self.ctx.pool, reads.FEED_LAST)
        newest = int(row["last"]) if row is not None else 0
        if last is None or newest - last > self.max_lag:
            if last is not None:
                PRERENDERED.labels("behind").inc(newest - last)
            last = newest
        while True:
            mark = self.watch.mark()
            rows = await db.fetch(self.ctx.pool, reads.FEED_SINCE, last, PAGE)
            if not rows:
                await self.watch.wait(mark, 30)
                continue
            for row in rows:
                if row["action"] != FeedAction.DELETE:
                    await self._render(row)
                last = row["sequence"]
            if len(rows) == PAGE:
                return last  # (checks the lag again)

    async def _render(self, row: asyncpg.Record) -> None:
        scope = Scope(
            row["study_instance_uid"], row["series_instance_uid"], row["sop_instance_uid"]
        )
        try:
            detail = await index.instance_detail(self.ctx.pool, scope, rendered_parts.KEYS)
        except DicomwebError:  # deleted or replaced since: nothing to make
            PRERENDERED.labels("skipped").inc()
            return
        if not detail.instance.has_pixel_data:
            return
        for params in self.pictures:
            await self.ctx.conversions.wait_idle()  # requests first
            picture = Picture.of(detail.instance, None, params, rendered.JPEG)
            try:
                await rendered.render_frames(self.ctx, detail, picture)
            except DicomwebError as exc:  # 406 (kept as such), 503 (busy): the request decides
                PRERENDERED.labels("refused" if exc.status == 406 else "skipped").inc()
                continue
            PRERENDERED.labels("made").inc()
