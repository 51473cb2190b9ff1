"""QIDO-RS handlers (PS3.18 §10.6): parse the query, run one statement, render the matches.

Responses are ``application/dicom+json`` (default) or ``multipart/related;
type="application/dicom+xml"`` with one Native DICOM Model part per match (PS3.18 §8.7.3);
an empty result is 204 No Content (PS3.18 §8.3.4.4.1, Table 10.6.3-2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom import dicomjson
from dicomcommon.dicom.dicomjson import DicomJson, Level
from dicomcommon.errors import PayloadTooLarge
from dicomcommon.search import extendedtags, sql
from dicomcommon.search import matching as searchmatch
from dicomcommon.search.query import Query, matching_keys, parse_query
from dicomcommon.web import audit, multipart, negotiation
from dicomcommon.web.multipart import MediaType
from qido.context import QidoContext
from qido.documentreads import fetch_in_parallel

Format = Literal["json", "xml"]
_JSON_TYPES = frozenset({"application/dicom+json", "application/json", "application/*", "*/*"})
_XML_TYPES = frozenset({"multipart/related", "multipart/*"})
_AUDIT_KEYS = {Level.STUDY: "study", Level.SERIES: "series", Level.INSTANCE: "instance"}
_MORE_RESULTS = "There are additional results that can be requested."
# The number of all matches, on a search that asks with ``count=true``.
TOTAL_COUNT_HEADER = "X-Total-Count"
# Extended query tags the search used whose values were not all indexed (Microsoft's header).
ERRONEOUS_HEADER = "erroneous-dicom-attributes"
Endpoint = Callable[[Request], Awaitable[Response]]
LevelAnswer = Callable[[Request, Level], Awaitable[Response]]


def at_level(answer: LevelAnswer, level: Level) -> Endpoint:
    """The route endpoint that answers for one level: all of it, or within a study or a
    series, as the path's parameters say (PS3.18 §10.6.1)."""

    async def endpoint(request: Request) -> Response:
        return await answer(request, level)

    return endpoint


async def count(request: Request, level: Level) -> Response:
    """How many entities of ``level`` match (as dcm4chee-arc's ``…/count`` resources answer)."""
    ctx: QidoContext = request.app.state.ctx
    query = await _query(request, level)
    found = await _counted(request, query)
    if found is None:
        raise PayloadTooLarge(_too_many(ctx.settings.max_scan_rows))
    return JSONResponse({"count": found})


async def _query(request: Request, level: Level) -> Query:
    """The query model; a key that no typed column holds may name an extended query tag, so
    only then is the tag catalog read."""
    ctx: QidoContext = request.app.state.ctx
    params = request.query_params.multi_items()
    extended = None
    if extendedtags.names_unindexed(matching_keys(params)):
        extended = await extendedtags.searchable(ctx.pool)
    query = parse_query(
        level,
        params,
        max_limit=ctx.settings.max_limit,
        study_instance_uid=request.path_params.get("study"),
        series_instance_uid=request.path_params.get("series"),
        extended=extended,
    )
    return await _bounded_scan(request, query)


async def _bounded_scan(request: Request, query: Query) -> Query:
    """A key matched against stored metadata (no index holds it) reads every candidate's
    document: the indexed keys must narrow the candidates to at most ``max_scan_rows``, and
    the answer warns that the search is not index-backed."""
    ctx: QidoContext = request.app.state.ctx
    unindexed = searchmatch.unindexed(query)
    if not unindexed:
        return query
    most = ctx.settings.max_scan_rows
    keys = ", ".join(f.key for f in unindexed)
    indexed = tuple(f for f in query.filters if f not in unindexed)
    if await _counted(request, replace(query, filters=indexed)) is None:
        raise PayloadTooLarge(
            f"{keys}: not index-backed, so matched against stored metadata, and more than "
            f"{most:,} candidates would be read; narrow the query with indexed keys, or "
            "declare the attribute as an extended query tag."
        )
    warning = (
        f"{keys}: not index-backed; matched against the stored metadata of at most "
        f"{most:,} candidates. Declare the attribute as an extended query tag to search it "
        "through an index."
    )
    return replace(query, warnings=(*query.warnings, warning))


async def _counted(request: Request, query: Query) -> int | None:
    """The number of matches of ``query``, ``None`` when more than the scan allows."""
    ctx: QidoContext = request.app.state.ctx
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    count = sql.build_count(query, ctx.settings.max_scan_rows, groups)
    [answer] = await fetch_bounded(ctx, count.text, count.args, _reads_documents(query))
    found: int = answer["found"]
    return found if found <= count.most else None


def _reads_documents(query: Query) -> bool:
    """Whether the statement matches stored documents, so parallel workers may share them."""
    return bool(searchmatch.unindexed(query))


async def fetch_bounded(
    ctx: QidoContext, text: str, args: Sequence[Any], documents: bool = False
) -> list[asyncpg.Record]:
    """Run a search or count (with parallel workers when it reads ``documents``); one that
    PostgreSQL cancels at the statement timeout was too broad to answer (PS3.18 §8.3.4.4:
    413)."""
    workers = ctx.settings.document_read_workers if documents else 0
    try:
        if workers:
            return await fetch_in_parallel(ctx.pool, workers, text, args)
        return await db.fetch(ctx.pool, text, *args)
    except asyncpg.exceptions.QueryCanceledError as exc:
        raise PayloadTooLarge(
            f"The search ran past the {ctx.settings.statement_timeout:g} s a search may take; "
            "narrow it with more matching keys, or order by indexed attributes."
        ) from exc


def _too_many(most: int) -> str:
    return f"More than {most:,} entities match; narrow the query with more matching keys."


async def search(request: Request, level: Level) -> Response:
    """The entities of ``level`` that match, as JSON or as Native DICOM Model parts."""
    ctx: QidoContext = request.app.state.ctx
    media = negotiate(request)
    query = await _query(request, level)
    if query.offset >= ctx.settings.max_scan_rows:
        raise PayloadTooLarge(
            f"A page may start at most {ctx.settings.max_scan_rows - 1:,} matches in; "
            "narrow the query with more matching keys."
        )
    base_url = ctx.settings.http.public_base_url.rstrip("/")
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    statement = sql.build_search(query, base_url, groups)
    documents = _reads_documents(query)
    if media == "json":
        [answer] = await fetch_bounded(ctx, statement.json_text, statement.args, documents)
        found, body = answer["found"], answer["body"]
        uids = list(zip(answer["study_uids"] or [], answer["uids"] or [], strict=True))
        response = Response(body, media_type="application/dicom+json") if found else None
    else:
        rows = await fetch_bounded(ctx, statement.text, statement.args, documents)
        found = len(rows)
        uids = [(row["study_uid"], row["uid"]) for row in rows[: statement.limit]]
        matches = [orjson.loads(row["match"]) for row in rows[: statement.limit]]
        response = _multipart_xml(matches) if matches else None
    _audit(request, level, uids)
    warnings = [*query.warnings, *([_MORE_RESULTS] if found > statement.limit else [])]
    response = response or Response(status_code=204)
    if query.count_total:
        total = await _counted(request, query)
        if total is None:
            warnings.append(_too_many(ctx.settings.max_scan_rows) + " The total is not counted.")
        else:
            response.headers[TOTAL_COUNT_HEADER] = str(total)
    erroneous = [f.key for f in query.filters if f.extended and f.extended.has_errors]
    if erroneous:
        response.headers[ERRONEOUS_HEADER] = ",".join(erroneous)
    return _with_warnings(response, base_url, warnings)


def _audit(request: Request, level: Level, matches: list[tuple[str, str]]) -> None:
    """The audit record names what the search returned: each match (a study, series or
    instance) and its study, given as (study UID, match UID)."""
    record = audit.record_of(request.scope)
    record.add_count(len(matches))
    for study, uid in matches:
        record.touch(**{"study": study, _AUDIT_KEYS[level]: uid})  # a study is its own study


def _with_warnings(response: Response, base_url: str, warnings: list[str]) -> Response:
    for warning in warnings:
        response.headers.append("Warning", f"299 {base_url}: {warning}")
    return response


def _multipart_xml(matches: list[DicomJson]) -> Response:
    """One ``application/dicom+xml`` part per match (PS3.18 §8.7.3.3, PS3.19 A.1)."""
    boundary = multipart.new_boundary()
    parts = [
        multipart.part_header(boundary, "application/dicom+xml", first=i == 0)
        + dicomjson.to_native_xml(match)
        for i, match in enumerate(matches)
    ]
    body = b"".join(parts) + multipart.closing_delimiter(boundary)
    media_type = f'multipart/related; type="application/dicom+xml"; boundary={boundary}'
    return Response(body, headers={"Content-Type": media_type})


def negotiate(request: Request) -> Format:
    """Pick the representation (PS3.18 §8.7.3, §8.3.3.1): DICOM JSON, or one Native DICOM
    Model part per match; highest quality first, 406 when nothing offered fits."""
    found: list[Format] = negotiation.negotiate(request, _format)
    return found[0]


def _format(media_type: MediaType) -> Format | None:
    if media_type.essence in _JSON_TYPES:
        return "json"
    kind = media_type.params.get("type", "").strip().lower()
    if media_type.essence in _XML_TYPES and kind in ("", "application/dicom+xml"):
        return "xml"
    return None
