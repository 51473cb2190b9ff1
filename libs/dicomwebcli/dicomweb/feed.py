"""``dicomweb feed``: the change feed as JSON lines, live.

Our server pushes entries as Server-Sent Events (``/changefeed/stream?after=SEQ``, each event's
data one entry); a server without that endpoint (Microsoft's) is polled on ``/changefeed``
instead, with the same output. Entries come in sequence order; ``after`` is exclusive, and by
default the tail starts at the newest entry, so only what happens next is printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import orjson

from dicomweb.server import TRANSPORT_ERRORS, Server, unexpected, unreachable

POLL_SECONDS = 1.0
POLL_PAGE = 100


async def tail(server: Server, after: int | None, count: int | None) -> AsyncIterator[bytes]:
    """Entries as compact JSON, after sequence ``after`` (None: the newest), ``count`` of them
    (None: until interrupted)."""
    async with server.session(2) as session:
        start = after if after is not None else await _latest(session, server)
        entries = _stream(session, server, start)
        try:
            async for entry in entries:
                yield entry
                if count is not None:
                    count -= 1
                    if count <= 0:
                        return
        finally:
            await entries.aclose()


async def _latest(session: aiohttp.ClientSession, server: Server) -> int:
    status, body = await _get(session, server, "/changefeed/latest", {"includemetadata": "false"})
    if status == 204:
        return 0
    if status != 200:
        raise unexpected(server, status, body.decode(errors="replace"))
    return int(orjson.loads(body).get("sequence", 0))


async def _stream(
    session: aiohttp.ClientSession, server: Server, after: int
) -> AsyncGenerator[bytes, None]:
    headers = server.headers({"Accept": "text/event-stream"})
    url = f"{server.root}/changefeed/stream"
    try:
        async with session.get(url, params={"after": str(after)}, headers=headers) as answer:
            if answer.status in (404, 405):
                pass  # no push endpoint: poll below, once this answer is closed
            elif answer.status != 200:
                raise unexpected(server, answer.status, (await answer.text()))
            else:
                async for line in answer.content:
                    if line.startswith(b"data:"):
                        yield line[5:].strip()
                return
    except TRANSPORT_ERRORS as exc:
        raise unreachable(server, exc) from exc
    async for entry in _poll(session, server, after):
        yield entry


async def _poll(session: aiohttp.ClientSession, server: Server, after: int) -> AsyncIterator[bytes]:
    while True:
        params = {"offset": str(after), "limit": str(POLL_PAGE)}
        status, body = await _get(session, server, "/changefeed", params)
        if status != 200:
            raise unexpected(server, status, body.decode(errors="replace"))
        entries: list[dict[str, Any]] = orjson.loads(body)
        for entry in entries:
            after = max(after, int(entry.get("sequence", after)))
            yield orjson.dumps(entry)
        if len(entries) < POLL_PAGE:
            await asyncio.sleep(POLL_SECONDS)


async def _get(
    session: aiohttp.ClientSession, server: Server, path: str, params: dict[str, str]
) -> tuple[int, bytes]:
    try:
        async with session.get(
            f"{server.root}{path}", params=params, headers=server.headers()
        ) as answer:
            return answer.status, await answer.read()
    except TRANSPORT_ERRORS as exc:
        raise unreachable(server, exc) from exc
