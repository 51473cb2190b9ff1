"""HTTP change feed handlers: Microsoft-compatible pages (v1, v2), the latest entry, and
Server-Sent Events for clients without NATS.

The event stream reads the table page by page (bounded memory), sleeps on the process's
``FeedWatch`` until the indexer commits more, and ends when the client leaves (Starlette
cancels the body on disconnect). Each event's ``id`` is its sequence, so a reconnecting
``EventSource`` resumes with ``Last-Event-ID`` exactly after what it received.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomcommon import studyaccess
from dicomcommon.adapters import changefeed
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.errors import BackendUnavailable
from dicomcommon.web import audit, publicbase
from qido import changefeed as feed
from qido.context import QidoContext

_JSON = "application/json"
_SSE_PAGE = 100
_KEEPALIVE_SECONDS = 15.0


async def read_v1(request: Request) -> Response:
    """``GET /changefeed?offset=&limit=&includemetadata=``: entries after ``offset``."""
    return await _page(request, feed.parse_v1(request.query_params.multi_items()))


async def read_v2(request: Request) -> Response:
    """``GET /v2/changefeed?startTime=&endTime=&offset=&limit=&includeMetadata=``."""
    return await _page(request, feed.parse_v2(request.query_params.multi_items()))


async def latest(request: Request) -> Response:
    """``GET [/v2]/changefeed/latest``: the newest entry; 204 while the feed is empty."""
    ctx: QidoContext = request.app.state.ctx
    include_metadata = feed.parse_latest(request.query_params.multi_items())
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    row = await feed.read_latest(ctx.pool, include_metadata, groups)
    if row is None:
        return Response(status_code=204)
    [entry] = feed.entries([row], _replacement(request, ctx))
    _audit(audit.record_of(request.scope), [entry])
    return Response(changefeed.encode(entry), media_type=_JSON)


async def stream(request: Request) -> Response:
    """``GET /changefeed/stream?after=SEQ&includemetadata=`` as ``text/event-stream``."""
    ctx: QidoContext = request.app.state.ctx
    params = [*request.query_params.multi_items()]
    resume = request.headers.get("last-event-id") or dict(params).get("after", "")
    query = feed.parse_v1([*params, ("offset", resume), ("limit", str(_SSE_PAGE))])
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    query = dataclasses.replace(query, groups=groups)
    audit.record_of(request.scope).at_start = True  # the query names where the stream begins
    body = _events(ctx.pool, request.app.state.feed_watch, query, _replacement(request, ctx))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


async def _page(request: Request, query: feed.FeedQuery) -> Response:
    ctx: QidoContext = request.app.state.ctx
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    rows = await feed.read_page(ctx.pool, dataclasses.replace(query, groups=groups))
    items = feed.entries(rows, _replacement(request, ctx))
    _audit(audit.record_of(request.scope), items)
    return Response(changefeed.encode(items), media_type=_JSON)


def _audit(record: audit.AuditRecord, items: list[dict[str, Any]]) -> None:
    """The audit record names the instances of the entries read."""
    record.add_instances(
        [
            (item["studyInstanceUid"], item["seriesInstanceUid"], item["sopInstanceUid"])
            for item in items
        ]
    )


def _replacement(request: Request, ctx: QidoContext) -> bytes:
    http, trust = ctx.settings.http, ctx.settings.trust_forwarded_headers
    return publicbase.bulk_replacement(publicbase.public_base(request, http, trust))


async def _events(
    pool: asyncpg.Pool, watch: FeedWatch, query: feed.FeedQuery, replacement: bytes
) -> AsyncIterator[bytes]:
    """Entries after ``query.after`` for as long as the client stays; a comment line every
    ``_KEEPALIVE_SECONDS`` of silence keeps proxies from closing the connection."""
    yield b"retry: 2000\n\n"
    after = query.after
    while True:
        mark = watch.mark()
        try:
            rows = await feed.read_page(pool, _after(query, after))
        except BackendUnavailable:
            rows = []
        for item in feed.entries(rows, replacement):
            yield b"id: %d\ndata: %s\n\n" % (item["sequence"], changefeed.encode(item))
            after = item["sequence"]
        if not rows and not await watch.wait(mark, _KEEPALIVE_SECONDS):
            yield b": keepalive\n\n"


def _after(query: feed.FeedQuery, after: int) -> feed.FeedQuery:
    return dataclasses.replace(query, after=after, skip=0, start=None, end=None)
