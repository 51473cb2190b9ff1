"""WADO-URI (PS3.18 §9): the classic single-object retrieve,
``GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``.

One route serves both transactions of the URI service: Retrieve DICOM Instance (§9.4,
``application/dicom``, planned and transcoded by ``retrieve``) and Retrieve Rendered Instance
(§9.5, JPEG / PNG / GIF through ``rendered.render_frames``, as WADO-RS rendered does; a GIF
of a multi-frame object without frameNumber is animated); ``anonymize=yes`` de-identifies
(``anonymized``: Basic Profile, 409 when the pixels may identify);
encapsulated documents go out as the document itself. Every parameter is checked before a
byte is read: a missing or malformed one is a 400 naming it, an unknown UID a 404 (§9.1,
Table 8.1-1 of the 2019 edition). Unsupported optional parameters (``annotation``,
``presentationUID``, ``presentationSeriesUID``) are ignored, as PS3.18 §8.3 asks.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom import uid
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomcommon import studyaccess
from dicomcommon.dicom import mediatypes
from dicomcommon.dicom.uids import is_safe_uid
from dicomcommon.errors import DicomwebError, NotAcceptable, NotFound
from dicomcommon.web import negotiation, parameters
from wado import anonymized, index, pixels, rendered, retrieve
from wado.context import WadoContext, audit_instances
from wado.head import head_safe
from wado.index import InstanceDetail, Scope
from wado.negotiate import Choice
from wado.rendered import RenderParams
from wado.transcode import TranscodeError
from wado.urls import public_base
from wado.voi import Window

DICOM = retrieve.DICOM
RENDERED = (rendered.JPEG, rendered.PNG, rendered.GIF)
# PS3.18 §9.5.1 (2019: §8.2): only for rendered images, never with application/dicom.
RENDER_ONLY = (
    "frameNumber",
    "rows",
    "columns",
    "region",
    "windowCenter",
    "windowWidth",
    "annotation",
    "presentationUID",
    "presentationSeriesUID",
)
# PS3.18 §9.4.1: only with application/dicom.
DICOM_ONLY = ("transferSyntax", "anonymize")

# Encapsulated documents are returned as themselves (PS3.18 2013 §7.3; PS3.3 A.45, A.85).
DOCUMENT_TYPES: dict[str, str] = {
    uid.EncapsulatedPDFStorage: "application/pdf",
    uid.EncapsulatedCDAStorage: "text/xml",
    uid.EncapsulatedSTLStorage: "model/stl",
    uid.EncapsulatedOBJStorage: "model/obj",
    uid.EncapsulatedMTLStorage: "model/mtl",
}
_DOCUMENT_KEYS = ("00420011", "00420015", "00420012")  # the document, its length, MIME type
_DOCUMENT, _DOCUMENT_LENGTH, _DOCUMENT_MIME = _DOCUMENT_KEYS
_KEYS = (*pixels.PIXEL_DESCRIPTION, *rendered.RENDER_KEYS, *_DOCUMENT_KEYS, *anonymized.KEYS)
_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+*-]+/[a-z0-9!#$&^_.+*-]+$")
_CHARSET = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*(;\s*q=[0-9.]+)?$")
_UNBOUNDED = 1 << 16  # a viewport side that was not asked: only the other one limits


@dataclass(frozen=True)
class UriRequest:
    """A WADO-URI request's parameters, validated (PS3.18 §9.4.1, §9.5.1)."""

    scope: Scope
    content_types: tuple[str, ...] = ()  # best first; empty: the object's default
    frame_number: int | None = None
    transfer_syntax: str | None = None
    anonymize: bool = False
    render: RenderParams = field(default_factory=RenderParams)
    present: frozenset[str] = frozenset()  # the query parameters the client gave

    @classmethod
    def of(cls, query: QueryParams) -> UriRequest:
        """Parse and check every parameter; the first problem is a 400 that names it."""
        if _one(query, "requestType", required=True) != "WADO":
            raise DicomwebError("requestType must be WADO (PS3.18 §9.1)")
        scope = Scope(_uid(query, "studyUID"), _uid(query, "seriesUID"), _uid(query, "objectUID"))
        frame = _one(query, "frameNumber")
        _charset(query)
        return cls(
            scope=scope,
            content_types=_content_types(query),
            frame_number=_positive(frame, "frameNumber") if frame is not None else None,
            transfer_syntax=_transfer_syntax(query),
            anonymize=_anonymize(query),
            render=_render_params(query),
            present=frozenset(query.keys()),
        )

    def given(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if name in self.present]


@head_safe
async def retrieve_object(request: Request) -> Response:
    """``GET /wado``: the object as DICOM, a rendered image or its encapsulated document."""
    ctx: WadoContext = request.app.state.ctx
    wanted = UriRequest.of(request.query_params)
    groups = studyaccess.caller_groups(request.scope, ctx.settings.study_groups)
    scope = dataclasses.replace(wanted.scope, groups=groups)
    detail = await index.instance_detail(ctx.lane, scope, _KEYS)
    audit_instances(request, [detail.instance])
    media_type = content_type(wanted, detail)
    check_fits(wanted, detail, media_type)
    if media_type == DICOM:
        return await _dicom(ctx, request, detail, wanted)
    if media_type in RENDERED:
        numbers = [wanted.frame_number] if wanted.frame_number else None
        picture = rendered.Picture.of(detail.instance, numbers, wanted.render, media_type)
        if_none_match = request.headers.get("if-none-match", "")
        return await rendered.picture_response(ctx, detail, picture, if_none_match)
    return _document(ctx, detail, media_type)


def offered(detail: InstanceDetail, wanted: UriRequest) -> tuple[str, tuple[str, ...]]:
    """The object's default media type and all it can be sent as (PS3.18 2013 §7.1-7.4):
    a single frame (or one picked by frameNumber, or one to be rendered) defaults to JPEG; a
    multi-frame image to application/dicom; a document to its own type; others to DICOM."""
    instance = detail.instance
    document = _document_type(detail)
    if document is not None:
        return document, (document, DICOM)
    if not instance.has_pixel_data:
        return DICOM, (DICOM,)
    single = (instance.number_of_frames or 1) == 1 or wanted.frame_number is not None
    rendering = bool(wanted.given(RENDER_ONLY)) or "imageQuality" in wanted.present
    return (rendered.JPEG if single or rendering else DICOM), (*RENDERED, DICOM)


def content_type(wanted: UriRequest, detail: InstanceDetail) -> str:
    """The first of the client's contentType values the object can be sent as; ``*/*`` and
    an absent contentType mean the default; 406 when none fits (PS3.18 §9.5: 406)."""
    default, available = offered(detail, wanted)
    for media_type in wanted.content_types or ("*/*",):
        if media_type == "*/*":
            return default
        if media_type.endswith("/*"):
            matching = [m for m in (default, *available) if m.startswith(media_type[:-1])]
            if matching:
                return matching[0]
        elif media_type in available:
            return media_type
    raise NotAcceptable(
        f"contentType {','.join(wanted.content_types)} is not available for this object;"
        f" it can be sent as {', '.join(available)}"
    )


def check_fits(wanted: UriRequest, detail: InstanceDetail, media_type: str) -> None:
    """Parameters that do not apply to the chosen media type are a 400 (PS3.18 §9.4.1,
    §9.5.1; 2019 §8.2.7), as is a frame the instance does not have (§9.5.2)."""
    if media_type != DICOM:
        misplaced = wanted.given(DICOM_ONLY)
        if misplaced:
            raise DicomwebError(f"{misplaced[0]} applies only to contentType {DICOM}")
    if media_type not in RENDERED:
        misplaced = wanted.given(RENDER_ONLY)
        if "imageQuality" in wanted.present and wanted.transfer_syntax is None:
            misplaced.append("imageQuality")
        if misplaced:
            raise DicomwebError(f"{misplaced[0]} applies only to rendered images, not {media_type}")
    frames = detail.instance.number_of_frames or 1
    if wanted.frame_number is not None and wanted.frame_number > frames:
        raise DicomwebError(f"frameNumber {wanted.frame_number} exceeds the {frames} frames")


async def _dicom(
    ctx: WadoContext, request: Request, detail: InstanceDetail, wanted: UriRequest
) -> Response:
    """Through WADO-RS's retrieve: Explicit VR Little Endian unless transferSyntax says
    otherwise (PS3.18 §8.7.3.5); 406 when the object cannot be converted to it."""
    choice = Choice(False, DICOM, wanted.transfer_syntax or mediatypes.EXPLICIT_VR_LITTLE_ENDIAN)
    planned = retrieve.plan([detail.instance], [choice], ctx.settings.max_transcode_bytes)
    if wanted.anonymize:
        return await _anonymized(ctx, detail, planned[0])
    base_url = public_base(request, ctx.settings)
    return await retrieve.response(ctx, planned, 1, False, base_url)


async def _anonymized(ctx: WadoContext, detail: InstanceDetail, item: retrieve.Planned) -> Response:
    """``anonymize=yes`` (PS3.18 §9.4.1): de-identified in a worker thread, one instance in
    memory; 409 when its pixels or document may identify (see ``anonymized``)."""
    anonymized.check_releasable(detail, _document_type(detail) is not None)
    if detail.instance.size > ctx.settings.max_transcode_bytes:
        raise NotAcceptable("the instance is too large to anonymize on the fly")
    syntax = None if item.as_stored else item.transfer_syntax
    secret = ctx.settings.anonymize_uid_secret.get_secret_value()
    try:
        async with ctx.conversions.admit(detail.instance.size):
            data = await ctx.store.read(detail.instance.blob_key)
            body = await asyncio.to_thread(anonymized.anonymized, data, syntax, secret)
    except TranscodeError as exc:
        raise NotAcceptable(str(exc)) from exc
    return Response(body, media_type=item.content_type)


def _document(ctx: WadoContext, detail: InstanceDetail, media_type: str) -> Response:
    """The Encapsulated Document (0042,0011) without the DICOM wrapper, cut to Encapsulated
    Document Length (0042,0015) when given (the value is padded to even length)."""
    declared = _value(detail.metadata, _DOCUMENT_LENGTH)
    located = detail.bulk_data.get(_DOCUMENT)
    if located is not None:
        offset, length = int(located[0]), int(located[1])
        length = min(length, int(declared)) if declared else length
        chunks = ctx.store.get(detail.instance.blob_key, offset, length)
        headers = {"Content-Length": str(length)}
        return StreamingResponse(chunks, headers=headers, media_type=media_type)
    inline = detail.metadata.get(_DOCUMENT, {}).get("InlineBinary")
    if inline is None:
        raise NotFound(f"instance {detail.instance.sop_instance_uid} has no document")
    data = base64.b64decode(inline)
    return Response(data[: int(declared)] if declared else data, media_type=media_type)


def _document_type(detail: InstanceDetail) -> str | None:
    sop_class = detail.instance.sop_class_uid
    if sop_class in DOCUMENT_TYPES:
        return DOCUMENT_TYPES[sop_class]
    stored = _value(detail.metadata, _DOCUMENT_MIME)  # any other Encapsulated Document
    return str(stored).strip().lower() if stored else None


def _value(metadata: dict[str, Any], tag: str) -> Any:
    values = metadata.get(tag, {}).get("Value")
    return values[0] if values else None


def _one(query: QueryParams, name: str, required: bool = False) -> str | None:
    """A parameter given at most once (PS3.18 §9.5.2: exactly one value)."""
    values = query.getlist(name)
    if len(values) > 1:
        raise DicomwebError(f"{name} must be given once")
    if not values or values[0] == "":
        if required:
            raise DicomwebError(f"{name} is required (PS3.18 §9.1)")
        return None
    return values[0]


def _uid(query: QueryParams, name: str) -> str:
    value = _one(query, name, required=True)
    assert value is not None
    if not is_safe_uid(value):
        raise DicomwebError(f"{name} is not a valid UID: {value[:80]!r}")
    return value


def _content_types(query: QueryParams) -> tuple[str, ...]:
    """``contentType``: media types, comma-separated, with optional q-values (PS3.18 §9.1)."""
    text = _one(query, "contentType")
    if text is None:
        return ()
    try:
        ranges = negotiation.parse_accept([text])
    except DicomwebError as exc:
        raise DicomwebError(f"contentType: {exc.message}") from None
    if not ranges or not all(_MEDIA_TYPE.match(r.media_type.essence) for r in ranges):
        raise DicomwebError(f"contentType must be media types: {text[:80]!r}")
    return tuple(r.media_type.essence for r in ranges if r.q > 0)


def _transfer_syntax(query: QueryParams) -> str | None:
    value = _one(query, "transferSyntax")
    if value is not None and not (is_safe_uid(value) and uid.UID(value).is_transfer_syntax):
        raise DicomwebError(f"transferSyntax is not a transfer syntax UID: {value[:80]!r}")
    return value


def _anonymize(query: QueryParams) -> bool:
    value = _one(query, "anonymize")
    if value is not None and value != "yes":
        raise DicomwebError("anonymize must be yes (PS3.18 §9.4.2.3)")
    return value is not None


def _charset(query: QueryParams) -> None:
    """``charset`` is checked, then unused: nothing we send is text we re-encode (a CDA
    document declares its own encoding)."""
    value = _one(query, "charset")
    if value is not None and not all(_CHARSET.match(v.strip()) for v in value.split(",")):
        raise DicomwebError(f"charset must be a list of character sets: {value[:80]!r}")


def _render_params(query: QueryParams) -> RenderParams:
    """windowCenter / windowWidth, rows / columns, region, imageQuality (PS3.18 §9.5.1)."""
    center, width = _one(query, "windowCenter"), _one(query, "windowWidth")
    if (center is None) != (width is None):
        raise DicomwebError("windowCenter and windowWidth must be given together")
    window = None
    if center is not None and width is not None:
        value = _number(width, "windowWidth")
        if value < 1:
            raise DicomwebError("windowWidth must be at least 1 (PS3.3 C.11.2.1.2)")
        window = Window(_number(center, "windowCenter"), value)  # LINEAR; 1 is a threshold
    rows, columns = _one(query, "rows"), _one(query, "columns")
    viewport = None
    if rows is not None or columns is not None:
        viewport = (
            _positive(columns, "columns", _UNBOUNDED) if columns else _UNBOUNDED,
            _positive(rows, "rows", _UNBOUNDED) if rows else _UNBOUNDED,
        )
    quality = _one(query, "imageQuality")
    level = _positive(quality, "imageQuality") if quality is not None else 90
    if level > 100:
        raise DicomwebError("imageQuality must be 1-100")
    return RenderParams(window, viewport, level, _region(_one(query, "region")))


def _region(text: str | None) -> tuple[float, float, float, float] | None:
    """``xmin,ymin,xmax,ymax``, fractions of the image from 0.0 to 1.0 (PS3.18 §9.5.1.2)."""
    if text is None:
        return None
    values = [_number(v, "region") for v in text.split(",")]
    if len(values) != 4 or not all(0 <= v <= 1 for v in values):
        raise DicomwebError("region must be four numbers from 0.0 to 1.0: xmin,ymin,xmax,ymax")
    if values[0] >= values[2] or values[1] >= values[3]:
        raise DicomwebError("region needs xmin < xmax and ymin < ymax")
    return values[0], values[1], values[2], values[3]


def _number(text: str, name: str) -> float:
    return parameters.number(name, text)


def _positive(text: str, name: str, high: int = parameters.MAX_BIGINT) -> int:
    return parameters.integer(name, text, low=1, high=high)
