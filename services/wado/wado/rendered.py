"""Rendered and thumbnail resources (PS3.18 §10.4.1.1.3, §8.3.5.1): frames as consumer images
with the request's ``window`` (center, width, function) or the instance's VOI, cut to a
``region``, scaled to ``viewport``, in ``quality``.

A multi-frame instance asked for as ``image/gif`` is one animated GIF of its frames (up to
``max_animated_frames``); JPEG and PNG, single-frame formats, carry its first frame.
WADO-RS rendered and WADO-URI (PS3.18 §9.5) both go through ``render_frames``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom import uid
from starlette.requests import Request
from starlette.responses import Response

from dicomcommon.errors import DicomwebError, NotAcceptable
from dicomcommon.web import parameters
from wado import color, conditional, frames, picture, pixels, reduced, voi
from wado.context import WadoContext
from wado.conversions import frame_share
from wado.index import InstanceDetail, StoredInstance
from wado.negotiate import AS_STORED, Choice, Offer
from wado.transcode import TranscodeError
from wado.voi import Window

JPEG, PNG, GIF = picture.JPEG, picture.PNG, picture.GIF
OFFER = Offer(
    media_types=(JPEG, PNG, GIF), wildcard=Choice(False, JPEG, AS_STORED), single_part=True
)
THUMBNAIL_SIZE = 128
FRAME_TIME = "00181063"  # ms per frame of a cine (PS3.3 C.7.6.5)
ROWS, COLUMNS = "00280010", "00280011"
# Besides the pixel description: what rendering reads from the metadata (PS3.3 C.7.6.3, C.11).
RENDER_KEYS = (*voi.VOI_KEYS, *color.PALETTE_KEYS, FRAME_TIME)
# PS3.18 §8.3.5.1.4: window=center,width[,function]
_MAX_SIDE = 1 << 16  # a viewport side; pictures are only ever shrunk to fit it
_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}


@dataclass(frozen=True)
class RenderParams:
    """The query parameters of a rendered request (PS3.18 Table 8.3.5-1)."""

    window: Window | None = None
    viewport: tuple[int, int] | None = None  # columns, rows
    quality: int = 90
    # xmin, ymin, xmax, ymax as fractions of the image (WADO-URI ``region``, PS3.18 §9.5.1.2)
    region: tuple[float, float, float, float] | None = None

    @classmethod
    def of(cls, request: Request, thumbnail: bool = False) -> RenderParams:
        if not request.scope.get("query_string"):  # (most requests: the defaults)
            return _THUMBNAIL if thumbnail else _DEFAULTS
        query = request.query_params
        window = parse_window(query["window"]) if "window" in query else None
        size = _viewport(query["viewport"]) if "viewport" in query else None
        if thumbnail and size is None:
            size = (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        quality = parameters.optional_integer("quality", query.get("quality"), 90, low=1, high=100)
        return cls(window, size, quality)


_DEFAULTS = RenderParams()
_THUMBNAIL = RenderParams(viewport=(THUMBNAIL_SIZE, THUMBNAIL_SIZE))


def parse_window(text: str) -> Window:
    """``center,width[,linear|linear-exact|sigmoid]`` (PS3.18 §8.3.5.1.4); bad is a 400."""
    center, width = _numbers(text, 2, "window")
    parts = text.split(",")
    name = parts[2].strip().lower() if len(parts) > 2 else "linear"
    if name not in _FUNCTIONS:
        raise DicomwebError(f"window function must be one of {', '.join(_FUNCTIONS)}")
    return Window(center, width, _FUNCTIONS[name])


def _viewport(text: str) -> tuple[int, int]:
    """``columns,rows`` (PS3.18 §8.3.5.1.3); only the two sides are honoured."""
    sides = parameters.integers("viewport", text, most=6, low=1, high=_MAX_SIDE)
    if len(sides) < 2:
        raise DicomwebError("viewport needs columns,rows")
    return sides[0], sides[1]


def _numbers(text: str, count: int, name: str) -> tuple[float, ...]:
    values = tuple(parameters.number(name, v) for v in text.split(",", count)[:count])
    if len(values) < count:
        raise DicomwebError(f"{name} needs {count} finite numbers")
    return values


@dataclass(frozen=True)
class Picture:
    """One picture a request asks for: its frames (several: an animated GIF), the rendering
    parameters, the media type."""

    numbers: tuple[int, ...]
    params: RenderParams
    media_type: str

    @classmethod
    def of(
        cls,
        instance: StoredInstance,
        asked: Sequence[int] | None,
        params: RenderParams,
        media_type: str,
    ) -> Picture:
        """Every asked (or every) frame for an animated GIF, else the first asked (or the
        first) frame."""
        count = instance.number_of_frames or 1
        numbers = tuple(asked) if asked else tuple(range(1, count + 1))
        return cls(numbers if media_type == GIF else numbers[:1], params, media_type)


def picture_key(instance: StoredInstance, picture: Picture) -> Hashable:
    """What one picture is made of (``wado.render_cache``): the blob and version of the
    instance (a re-stored instance has new ones), its frames, the media type, the parameters."""
    return (
        instance.blob_key,
        instance.version,
        picture.numbers,
        picture.media_type,
        picture.params,
    )


def etag_of(key: Hashable) -> str:
    """A strong validator of the picture under ``key`` (RFC 9110 §8.8.3)."""
    return f'"{hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()}"'


@functools.lru_cache(maxsize=4096)
def _head(key: Hashable) -> tuple[str, tuple[tuple[bytes, bytes], ...]]:
    """The ETag of the picture under ``key`` and the headers of its answer (``_headers``),
    encoded: the pictures asked for again are the ones worth remembering them for."""
    headers = _headers(key)
    return headers["ETag"], tuple((k.lower().encode(), v.encode()) for k, v in headers.items())


class _KeptPicture(Response):
    """A cached picture with its headers known ahead (``_head``): Starlette's per-answer
    header building is skipped; what is sent is the same."""

    def __init__(self, image: bytes, media_type: str, head: Sequence[tuple[bytes, bytes]]):
        self.status_code = 200
        self.background = None
        self.body = image
        length = str(len(image)).encode()
        self.raw_headers = [
            *head,
            (b"content-length", length),
            (b"content-type", media_type.encode()),
        ]


def kept_response(
    ctx: WadoContext, instance: StoredInstance, picture: Picture, if_none_match: str
) -> Response | None:
    """The answer when it needs no rendering — a ``304`` for a matching ``If-None-Match``, or
    the cached picture (or its kept 406) — else ``None``. It needs only the instance's index
    row, not its frame map or metadata, so a repeated request skips reading those."""
    _check(ctx, instance, picture.numbers)
    key = picture_key(instance, picture)
    etag, head = _head(key)
    if if_none_match and conditional.matches(if_none_match, etag):
        return Response(status_code=304, headers=_headers(key))
    image = ctx.render_cache.kept(key)
    return None if image is None else _KeptPicture(image, picture.media_type, head)


async def picture_response(
    ctx: WadoContext, detail: InstanceDetail, picture: Picture, if_none_match: str
) -> Response:
    """One picture with its ETag; ``304`` without rendering when ``If-None-Match`` names it."""
    kept = kept_response(ctx, detail.instance, picture, if_none_match)
    if kept is not None:
        return kept
    headers = _headers(picture_key(detail.instance, picture))
    image = await render_frames(ctx, detail, picture)
    return Response(image, media_type=picture.media_type, headers=headers)


def _headers(key: Hashable) -> dict[str, str]:
    return {"ETag": etag_of(key), "Cache-Control": "no-cache", "Vary": "Accept"}


async def render_frames(ctx: WadoContext, detail: InstanceDetail, picture: Picture) -> bytes:
    """The frames of ``picture`` as one picture, from the cache of rendered pictures or
    rendered now; 404 for a missing frame, 406 if undecodable."""
    _check(ctx, detail.instance, picture.numbers)
    key = picture_key(detail.instance, picture)
    return await ctx.render_cache.get(key, lambda: _render_frames(ctx, detail, picture))


def _check(ctx: WadoContext, instance: StoredInstance, numbers: Sequence[int]) -> None:
    limit = ctx.settings.max_animated_frames
    if len(numbers) > limit:
        raise NotAcceptable(f"an animation holds at most {limit} frames; ask for fewer")
    frames.check_numbers(instance, numbers)


async def _render_frames(ctx: WadoContext, detail: InstanceDetail, picture: Picture) -> bytes:
    """Read as stored by byte ranges, then decoded and encoded in one hop to a worker
    (``wado.render_workers``), within the cap on conversions."""
    described = await _with_bulk_values(ctx, detail, pixels.decoded_description(detail))
    syntax = detail.instance.transfer_syntax_uid
    as_stored = frames.FramePlan(False, pixels.OCTET_STREAM, syntax, decode=False)
    description = pixels.describe(detail.metadata)
    numbers = picture.numbers
    async with ctx.conversions.admit(frame_share(detail.instance, len(numbers))):
        try:
            stored = await frames.read_frames(ctx, detail, numbers, as_stored)
            as_read = StoredFrames(stored, syntax, description, described)
            return await ctx.render_workers.run(
                _decode_and_encode, as_read, picture.params, picture.media_type
            )
        except TranscodeError as exc:
            raise NotAcceptable(str(exc)) from exc


@dataclass(frozen=True)
class StoredFrames:
    """Frames as ``read_frames`` gives them without decoding (compressed if the syntax is,
    else native), with what decoding them needs; picklable for a worker process."""

    frames: Sequence[bytes]
    syntax: str
    description: dict[str, Any]
    metadata: dict[str, Any]


def _decode_and_encode(stored: StoredFrames, params: RenderParams, media_type: str) -> bytes:
    """The stored frames as one picture; blocking."""
    native, metadata = stored.frames, stored.metadata
    if uid.UID(stored.syntax).is_compressed:
        native, metadata = _decoded(stored, params)
    return _encode(native, metadata, params, media_type)


def _decoded(stored: StoredFrames, params: RenderParams) -> tuple[Sequence[bytes], dict[str, Any]]:
    """Compressed frames as native ones, with the metadata that describes them: JPEG 2000
    frames shown smaller than they are come from a reduced resolution (``wado.reduced``), all
    of them or, if one cannot, none (the frames of an animation share one size)."""
    syntax, description = stored.syntax, stored.description
    if params.viewport and params.region is None:
        decoded = []
        for frame in stored.frames:  # the first frame that cannot be reduced ends the attempt
            smaller = reduced.decode_smaller(frame, description, syntax, params.viewport)
            if smaller is None:
                break
            decoded.append(smaller)
        if decoded and len(decoded) == len(stored.frames):
            rows, columns = decoded[0][1], decoded[0][2]
            sides = {ROWS: {"vr": "US", "Value": [rows]}, COLUMNS: {"vr": "US", "Value": [columns]}}
            return [f[0] for f in decoded], {**stored.metadata, **sides}
    native = [pixels.decode_frame([frame], description, syntax) for frame in stored.frames]
    return native, stored.metadata


def render(frame: bytes, metadata: dict[str, Any], params: RenderParams, media_type: str) -> bytes:
    """Encode one native frame (Explicit VR Little Endian bytes) as ``media_type``; blocking."""
    return _encode([frame], metadata, params, media_type)


def _encode(
    native: Sequence[bytes], metadata: dict[str, Any], params: RenderParams, media_type: str
) -> bytes:
    try:
        images = [
            picture.picture(f, metadata, params.window, params.region, params.viewport)
            for f in native
        ]
    except (ValueError, TypeError, IndexError) as exc:  # pixel description contradicts data
        raise NotAcceptable(f"the frame cannot be rendered: {exc}") from exc
    frame_ms = int(float(voi.value(metadata, FRAME_TIME, picture.GIF_FRAME_MS) or 100))
    return picture.encode(images, media_type, params.quality, max(frame_ms, 20))


async def _with_bulk_values(
    ctx: WadoContext, detail: InstanceDetail, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The metadata with the BulkDataURIs of LUTs and palettes replaced by their bytes
    (``InlineBinary``), read from the blob at the offsets ingest recorded."""
    resolved = dict(metadata)
    for key in RENDER_KEYS:
        if key in resolved:
            resolved[key] = await _resolve(ctx, detail, resolved[key])
    return resolved


async def _resolve(ctx: WadoContext, detail: InstanceDetail, element: Any) -> Any:
    if not isinstance(element, dict):
        return element
    uri = element.get("BulkDataURI")
    if isinstance(uri, str) and "/bulkdata/" in uri:
        located = detail.bulk_data.get(uri.rsplit("/bulkdata/", 1)[1])
        if located is None:
            raise NotAcceptable(f"a lookup table of the instance cannot be read: {uri[-40:]}")
        data = await ctx.store.read(detail.instance.blob_key, int(located[0]), int(located[1]))
        return {"vr": element.get("vr"), "InlineBinary": base64.b64encode(data).decode()}
    values = element.get("Value")
    if isinstance(values, list) and values and isinstance(values[0], dict):
        items = [{k: await _resolve(ctx, detail, v) for k, v in item.items()} for item in values]
        return {**element, "Value": items}
    return element
