"""Which pictures a rendered or thumbnail request gets, and how they travel (PS3.18 §10.4.1.1.3,
Table 10.4.1-3: Study, Series, Instance and Frames rendered resources).

- ``multipart/related; type=image/…``: one part per instance of a study or series (each
  rendered as a lone instance would be), or one part per frame of an instance or frame list;
  a GIF of a multi-frame instance is one animated part. Parts stream one at a time.
- a single image type: one picture — the instance (or first listed frame, or an animated GIF
  of them), or for a study or series its first instance with pixel data, the representative
  image a thumbnail shows.
Instances that cannot be rendered are left out of a multipart answer with a warning logged
(the status is sent already, PS3.18 §10.4.3); if none can be, the answer is 406.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

from starlette.responses import Response, StreamingResponse

from dicomcommon.errors import DicomwebError, NotFound
from dicomcommon.web import multipart
from wado import index, pixels, rendered
from wado.context import WadoContext
from wado.index import InstanceDetail, Scope, StoredInstance
from wado.negotiate import Choice
from wado.rendered import Picture, RenderParams

log = logging.getLogger(__name__)
KEYS = (*pixels.PIXEL_DESCRIPTION, *rendered.RENDER_KEYS)


async def response(
    ctx: WadoContext,
    scope: Scope,
    asked: Sequence[int] | None,
    params: RenderParams,
    choice: Choice,
    base_url: str,
    if_none_match: str = "",
) -> Response:
    """The rendered resource ``scope`` (frames ``asked`` of an instance, if given); a single
    picture carries an ETag and honours ``If-None-Match``."""
    media = choice.media_type
    representative: StoredInstance | None = None
    if scope.instance is None:
        found = [i for i in await index.instances(ctx.lane, scope) if i.has_pixel_data]
        if not found:
            raise NotFound(
                f"no instance with pixel data in {scope.level} {scope.series or scope.study}"
            )
        if choice.multipart:
            return await _multipart(_instance_parts(ctx, found, params, media, base_url), media)
        representative, scope = found[0], _scope_of(found[0])
    if not choice.multipart:
        return await _picture(ctx, scope, representative, asked, params, media, if_none_match)
    detail = await index.instance_detail(ctx.lane, scope, KEYS)
    return await _multipart(_frame_parts(ctx, detail, asked, params, media, base_url), media)


async def _picture(
    ctx: WadoContext,
    scope: Scope,
    known: StoredInstance | None,
    asked: Sequence[int] | None,
    params: RenderParams,
    media: str,
    if_none_match: str,
) -> Response:
    """One picture: its instance's row first (a small primary-key read, unless the study or
    series lookup found it), so a cached picture or a 304 is answered without reading the
    frame map and metadata a rendering needs."""
    instance = known or (await index.instances(ctx.lane, scope))[0]
    picture = Picture.of(instance, asked, params, media)
    kept = rendered.kept_response(ctx, instance, picture, if_none_match)
    if kept is not None:
        return kept
    detail = await index.instance_detail(ctx.lane, scope, KEYS)
    picture = Picture.of(detail.instance, asked, params, media)  # (re-stored meanwhile)
    return await rendered.picture_response(ctx, detail, picture, if_none_match)


def _scope_of(instance: StoredInstance) -> Scope:
    return Scope(
        instance.study_instance_uid, instance.series_instance_uid, instance.sop_instance_uid
    )


async def _multipart(parts: AsyncIterator[tuple[bytes, str]], media: str) -> Response:
    """The first part is rendered before answering, so its failure is a clean status."""
    boundary = multipart.new_boundary()
    body = _body(parts, media, boundary)
    first = await anext(body)

    async def stream() -> AsyncIterator[bytes]:
        yield first
        async for chunk in body:
            yield chunk

    media_type = f'multipart/related; type="{media}"; boundary={boundary}'
    return StreamingResponse(stream(), media_type=media_type)


async def _body(
    parts: AsyncIterator[tuple[bytes, str]], media: str, boundary: str
) -> AsyncIterator[bytes]:
    first = True
    async for image, location in parts:
        yield multipart.part_header(boundary, media, {"Content-Location": location}, first=first)
        yield image
        first = False
    yield multipart.closing_delimiter(boundary)


async def _frame_parts(
    ctx: WadoContext,
    detail: InstanceDetail,
    asked: Sequence[int] | None,
    params: RenderParams,
    media: str,
    base_url: str,
) -> AsyncIterator[tuple[bytes, str]]:
    """One part per frame; a GIF is one animated part of them all."""
    location = f"{base_url}/{detail.instance.instance_path}"
    numbers = list(asked) if asked else list(range(1, (detail.instance.number_of_frames or 1) + 1))
    groups = [numbers] if media == rendered.GIF else [[n] for n in numbers]
    for group in groups:
        image = await rendered.render_frames(ctx, detail, Picture(tuple(group), params, media))
        suffix = f"/frames/{group[0]}/rendered" if len(group) == 1 and asked else "/rendered"
        yield image, location + suffix


async def _instance_parts(
    ctx: WadoContext,
    found: list[StoredInstance],
    params: RenderParams,
    media: str,
    base_url: str,
) -> AsyncIterator[tuple[bytes, str]]:
    """One part per instance, rendered as a lone instance would be."""
    sent = False
    for instance in found:
        try:
            detail = await index.instance_detail(ctx.lane, _scope_of(instance), KEYS)
            picture = Picture.of(detail.instance, None, params, media)
            image = await rendered.render_frames(ctx, detail, picture)
        except DicomwebError as exc:
            if not sent and instance is found[-1]:
                raise
            log.warning("instance %s left out of the rendering: %s", instance.sop_instance_uid, exc)
            continue
        sent = True
        yield image, f"{base_url}/{instance.instance_path}/rendered"
