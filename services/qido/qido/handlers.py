"""QIDO-RS handlers (PS3.18 §10.6): parse the query, run one statement, render the matches.

Responses are ``application/dicom+json`` (default) or ``multipart/related;
type="application/dicom+xml"`` with one Native DICOM Model part per match (PS3.18 §8.7.3);
an empty result is 204 No Content (PS3.18 §8.3.4.4.1, Table 10.6.3-2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response

from dicomcommon import db, dicomjson, studyaccess
from dicomcommon import searchsql as sql
from dicomcommon.dicomjson import DicomJson, Level
from dicomcommon.errors import NotAcceptable
from dicomcommon.principal import principal_of
from dicomcommon.query import parse_query
from qido.settings import Settings

Format = Literal["json", "xml"]
_JSON_TYPES = frozenset({"application/dicom+json", "application/json", "application/*", "*/*"})
_XML_TYPES = frozenset({"multipart/related", "multipart/*"})
_MORE_RESULTS = "There are additional results that can be requested."


@dataclass(frozen=True, slots=True)
class QidoContext:
    """What every request needs, built once in the lifespan."""

    pool: asyncpg.Pool
    settings: Settings


async def search_studies(request: Request) -> Response:
    """Search for studies, ``GET /studies`` (PS3.18 §10.6.1)."""
    return await _search(request, Level.STUDY)


async def search_series(request: Request) -> Response:
    """Search for series: all, or of one study (PS3.18 §10.6.1)."""
    return await _search(request, Level.SERIES)


async def search_instances(request: Request) -> Response:
    """Search for instances: all, of a study, or of a series (PS3.18 §10.6.1)."""
    return await _search(request, Level.INSTANCE)


async def _search(request: Request, level: Level) -> Response:
    ctx: QidoContext = request.app.state.ctx
    media = negotiate(request)
    query = parse_query(
        level,
        request.query_params.multi_items(),
        max_limit=ctx.settings.max_limit,
        study_instance_uid=request.path_params.get("study"),
        series_instance_uid=request.path_params.get("series"),
    )
    base_url = ctx.settings.http.public_base_url.rstrip("/")
    groups = studyaccess.visible_groups(principal_of(request.scope), ctx.settings.study_groups)
    search = sql.build_search(query, base_url, groups)
    if media == "json":
        answer = await db.fetchrow(ctx.pool, search.json_text, *search.args)
        assert answer is not None  # an aggregate always answers one row
        found, body = answer["found"], answer["body"]
        response = Response(body, media_type="application/dicom+json") if found else None
    else:
        rows = await db.fetch(ctx.pool, search.text, *search.args)
        found = len(rows)
        matches = [orjson.loads(row["match"]) for row in rows[: search.limit]]
        response = _multipart_xml(matches) if matches else None
    warnings = [*query.warnings, *([_MORE_RESULTS] if found > search.limit else [])]
    return _with_warnings(response or Response(status_code=204), base_url, warnings)


def _with_warnings(response: Response, base_url: str, warnings: list[str]) -> Response:
    for warning in warnings:
        response.headers.append("Warning", f"299 {base_url}: {warning}")
    return response


def _multipart_xml(matches: list[DicomJson]) -> Response:
    """One ``application/dicom+xml`` part per match (PS3.18 §8.7.3.3, PS3.19 A.1)."""
    boundary = uuid.uuid4().hex
    parts = [
        b"--%s\r\nContent-Type: application/dicom+xml\r\n\r\n%s\r\n"
        % (boundary.encode(), dicomjson.to_native_xml(match))
        for match in matches
    ]
    body = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
    media_type = f'multipart/related; type="application/dicom+xml"; boundary={boundary}'
    return Response(body, headers={"Content-Type": media_type})


def negotiate(request: Request) -> Format:
    """Pick the representation from the ``accept`` query parameter (PS3.18 §8.3.3.1), which
    overrides the Accept header; highest quality first, 406 when nothing offered fits."""
    accept = request.query_params.get("accept") or request.headers.get("accept") or "*/*"
    ranges = sorted(
        (_media_range(item) for item in accept.split(",") if item.strip()),
        key=lambda r: -r[2],
    )
    for media_type, kind, quality in ranges:
        if quality <= 0:
            continue
        if media_type in _JSON_TYPES:
            return "json"
        if media_type in _XML_TYPES and kind in (None, "application/dicom+xml"):
            return "xml"
    raise NotAcceptable(f"QIDO-RS answers application/dicom+json or multipart/related; "
                        f'type="application/dicom+xml", not {accept[:120]!r}')  # fmt: skip


def _media_range(item: str) -> tuple[str, str | None, float]:
    """``type/subtype; type="..."; q=0.5`` → (media type, its ``type`` parameter, quality)."""
    media_type, *params = (part.strip() for part in item.split(";"))
    kind, quality = None, 1.0
    for param in params:
        name, _, value = param.partition("=")
        value = value.strip().strip('"').lower()
        if name.strip().lower() == "type":
            kind = value
        elif name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
    return media_type.lower(), kind, quality
