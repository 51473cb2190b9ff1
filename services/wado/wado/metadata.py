"""Retrieve Metadata of a study, series or instance (PS3.18 §10.4.1.1.2, §10.4.3.2) straight
from the index: no blob is read.

The DICOM JSON that ingest computed travels as PostgreSQL text and is spliced into the answer
unparsed; only the ``dicomweb-bulk:`` placeholder of BulkDataURIs is replaced by the public
base. The ETag covers every instance's UID and version, so a re-stored instance changes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomcommon.dicom import dicomjson
from dicomcommon.web import multipart, publicbase
from wado import conditional, index
from wado.context import WadoContext
from wado.index import Scope
from wado.negotiate import Choice, Offer

DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
OFFER = Offer(
    media_types=(DICOM_JSON, "application/json", DICOM_XML),
    wildcard=Choice(False, DICOM_JSON, "*"),
    single_part=True,
)


async def response(
    ctx: WadoContext, request: Request, scope: Scope, choice: Choice, base_url: str
) -> Response:
    """The metadata as a DICOM JSON array, or one Native DICOM Model XML part per instance;
    ``304`` when the client's ``If-None-Match`` still matches (RFC 9110 §13.1.2)."""
    etag = await index.metadata_etag(ctx.lane, scope)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    if conditional.matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    pages = index.metadata_pages(ctx.lane, scope, ctx.settings.metadata_page_size)
    replacement = publicbase.bulk_replacement(base_url)
    if choice.media_type == DICOM_XML:
        boundary = multipart.new_boundary()
        media_type = f'multipart/related; type="{DICOM_XML}"; boundary={boundary}'
        body = _xml_parts(pages, replacement, boundary)
        return StreamingResponse(body, headers=headers, media_type=media_type)
    media_type = choice.media_type if not choice.multipart else DICOM_JSON
    key = (request.url.path.removesuffix("/metadata"), etag)
    cached = ctx.metadata_cache.get(key)
    if cached is not None:
        data = publicbase.resolve_bulk_uris(cached, replacement)
        return Response(data, headers=headers, media_type=media_type)
    chunks = _json_array(pages, replacement, lambda whole: ctx.metadata_cache.put(key, whole))
    return StreamingResponse(chunks, headers=headers, media_type=media_type)


async def _json_array(
    pages: AsyncIterator[list[str]], replacement: bytes, keep: Callable[[bytes], None]
) -> AsyncIterator[bytes]:
    """The array page by page; once complete, its placeholder form goes to ``keep``."""
    opening, kept = b"[", [b"["]
    async for page in pages:
        text = ",".join(page).encode()
        yield opening + publicbase.resolve_bulk_uris(text, replacement)
        if opening == b",":
            kept.append(b",")
        kept.append(text)
        opening = b","
    yield b"]" if opening == b"," else b"[]"
    kept.append(b"]")
    keep(b"".join(kept) if len(kept) > 2 else b"[]")


async def _xml_parts(
    pages: AsyncIterator[list[str]], replacement: bytes, boundary: str
) -> AsyncIterator[bytes]:
    first = True
    async for page in pages:
        for text in page:
            dataset = orjson.loads(publicbase.resolve_bulk_uris(text.encode(), replacement))
            yield multipart.part_header(boundary, DICOM_XML, first=first)
            yield dicomjson.to_native_xml(dataset)
            first = False
    yield multipart.closing_delimiter(boundary)
