"""Retrieve Bulk Data (PS3.18 §10.4.1.1.4): every BulkDataURI of the metadata resolves to a
byte range of the stored blob that ingest recorded, streamed, with HTTP Range support.

Encapsulated Pixel Data is answered frame by frame (as Retrieve Frames would), since its
fragments mean nothing to a client without the frame boundaries; a Range then applies to a
single-part answer (one frame). An unsatisfiable Range is a 416 naming the length.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from pydicom.uid import UID
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from dicomcommon.dicom.elements import PIXEL_DATA_KEYS
from dicomcommon.errors import DicomwebError, NotFound
from dicomcommon.web import multipart
from wado.context import WadoContext
from wado.index import InstanceDetail
from wado.negotiate import AS_STORED, Choice, Offer
from wado.pixels import OCTET_STREAM

OFFER = Offer(
    media_types=(OCTET_STREAM,),
    wildcard=Choice(True, OCTET_STREAM, AS_STORED),
    single_part=True,
)
_PATH = re.compile(r"^[0-9A-F]{8}(/[0-9]{1,6}/[0-9A-F]{8})*$")
_RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$", re.ASCII)


class RangeNotSatisfiable(DicomwebError, status=416):
    """The Range lies outside the value (RFC 9110 §15.5.17)."""


def bulk_path(text: str) -> str:
    """``7FE00010`` or ``00409096/0/00283006``; anything else is a 400."""
    path = text.strip("/").upper()
    if not _PATH.match(path):
        raise DicomwebError(f"not a bulk data path: {text[:80]!r}")
    return path


def is_encapsulated_pixel_data(detail: InstanceDetail, path: str) -> bool:
    return path in PIXEL_DATA_KEYS and bool(detail.frames) and _compressed(detail)


def _compressed(detail: InstanceDetail) -> bool:
    return bool(UID(detail.instance.transfer_syntax_uid).is_compressed)


def locate(detail: InstanceDetail, path: str) -> tuple[int, int]:
    """The (offset, length) of the value in the blob; 404 for a path ingest did not record."""
    found = detail.bulk_data.get(path)
    if found is None:
        raise NotFound(f"no bulk data {path} in instance {detail.instance.sop_instance_uid}")
    return int(found[0]), int(found[1])


def byte_range(header: str | None, length: int) -> tuple[int, int] | None:
    """A single ``Range: bytes=a-b`` (RFC 9110 §14.2) as (start, count) inside the value;
    None for the whole value. Unsatisfiable ranges are a 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None  # multiple or malformed ranges: ignored, the whole value is sent (§14.2)
    first, last = match.groups()
    if first == "":
        count = min(int(last), length)
        return length - count, count
    start = int(first)
    end = min(int(last), length - 1) if last else length - 1
    if start >= length or end < start:
        raise RangeNotSatisfiable(f"range {header!r} outside the {length} byte value")
    return start, end - start + 1


def response(
    ctx: WadoContext, request: Request, detail: InstanceDetail, path: str, choice: Choice
) -> Response:
    """The value (or the asked range of it), single part or in one multipart part."""
    offset, length = locate(detail, path)
    try:
        ranged = byte_range(request.headers.get("range"), length)
    except RangeNotSatisfiable as exc:
        return unsatisfiable(exc, length)
    start, count = ranged or (0, length)
    headers = {"Accept-Ranges": "bytes"}
    status = 200
    extra: dict[str, str] = {}
    if ranged is not None:
        status = 206
        extra["Content-Range"] = f"bytes {start}-{start + count - 1}/{length}"
    chunks = ctx.store.get(detail.instance.blob_key, offset + start, count)
    if not choice.multipart:
        headers.update(extra)
        headers["Content-Length"] = str(count)
        return StreamingResponse(chunks, status, headers, OCTET_STREAM)
    boundary = multipart.new_boundary()
    media_type = f'multipart/related; type="{OCTET_STREAM}"; boundary={boundary}'
    body = _one_part(chunks, boundary, extra)
    return StreamingResponse(body, status, headers, media_type)


def unsatisfiable(exc: RangeNotSatisfiable, length: int) -> Response:
    """416 with ``Content-Range: bytes */length``, so the client learns the value's size
    (RFC 9110 §15.5.17, §14.4)."""
    headers = {"Content-Range": f"bytes */{length}", "Accept-Ranges": "bytes"}
    return JSONResponse({"error": exc.message}, status_code=416, headers=headers)


def with_range(request: Request, answer: Response) -> Response:
    """Encapsulated Pixel Data sent as one frame in one body (single part, e.g. the frame of a
    single-frame JPEG instance): the Range applies to that body, as it would to a file
    (RFC 9110 §14). A multipart answer ignores the Range (§14.2 lets a server do so)."""
    if answer.status_code != 200 or answer.media_type is None or "multipart" in answer.media_type:
        return answer
    body = bytes(answer.body)
    try:
        ranged = byte_range(request.headers.get("range"), len(body))
    except RangeNotSatisfiable as exc:
        return unsatisfiable(exc, len(body))
    headers = {"Accept-Ranges": "bytes"}
    if ranged is None:
        return Response(body, 200, headers, answer.headers["content-type"])
    start, count = ranged
    headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{len(body)}"
    return Response(body[start : start + count], 206, headers, answer.headers["content-type"])


async def _one_part(
    chunks: AsyncIterator[bytes], boundary: str, extra: dict[str, str]
) -> AsyncIterator[bytes]:
    yield multipart.part_header(boundary, OCTET_STREAM, extra, first=True)
    async for chunk in chunks:
        yield chunk
    yield multipart.closing_delimiter(boundary)
