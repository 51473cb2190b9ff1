"""QIDO-RS searches (PS3.18 §10.6) as the other commands need them: every match of a level,
page after page, as DICOM JSON datasets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from dicomweb.server import TRANSPORT_ERRORS, Server, unexpected, unreachable

PAGE = 1000


def level_path(
    study: str | None = None, series: str | None = None, level: str = "instances"
) -> str:
    """``/studies/{s}/series/{se}/instances`` and its shorter forms."""
    path = ""
    if study:
        path += f"/studies/{study}"
        if series:
            path += f"/series/{series}"
    return f"{path}/{level}"


async def search(
    session: aiohttp.ClientSession,
    server: Server,
    path: str,
    filters: Mapping[str, str],
    limit: int | None = None,
    offset: int = 0,
) -> AsyncIterator[dict[str, Any]]:
    """Matches of ``path`` (a QIDO resource) in order; ``limit=None`` reads every page."""
    while limit is None or limit > 0:
        page = PAGE if limit is None else min(limit, PAGE)
        params = {**filters, "limit": str(page), "offset": str(offset)}
        matches = await _page(session, server, path, params)
        for match in matches:
            yield match
        offset += len(matches)
        if limit is not None:
            limit -= len(matches)
        if len(matches) < page:
            return


async def _page(
    session: aiohttp.ClientSession, server: Server, path: str, params: Mapping[str, str]
) -> list[dict[str, Any]]:
    headers = server.headers({"Accept": "application/dicom+json"})
    try:
        async with session.get(f"{server.root}{path}", params=params, headers=headers) as answer:
            body = await answer.read()
            status = answer.status
    except TRANSPORT_ERRORS as exc:
        raise unreachable(server, exc) from exc
    if status == 204:
        return []
    if status != 200:
        raise unexpected(server, status, body.decode(errors="replace"))
    matches = orjson.loads(body)
    return [m for m in matches if isinstance(m, dict)] if isinstance(matches, list) else []


def value(dataset: Mapping[str, Any], tag: str) -> str:
    """An attribute's values as text (a PN as its alphabetic form), ``""`` when absent."""
    values = dataset.get(tag, {}).get("Value", [])
    texts = [
        str(v.get("Alphabetic", "")) if isinstance(v, dict) else str(v)
        for v in values
        if v is not None
    ]
    return "\\".join(texts)
