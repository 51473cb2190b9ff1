"""One async function per WADO-RS route (PS3.18 §10.4); each reads top to bottom:
validate the UIDs, negotiate, look up the index, stream from storage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dicomcommon.errors import NotAcceptable
from wado import (
    bulkdata,
    frames,
    index,
    metadata,
    negotiate,
    pixels,
    rendered,
    rendered_parts,
    retrieve,
)
from wado.context import WadoContext, audit_instances
from wado.conversions import frame_share
from wado.head import head_safe
from wado.index import Scope
from wado.negotiate import Choice
from wado.transcode import TranscodeError
from wado.urls import public_base


@head_safe
async def retrieve_instances(request: Request) -> Response:
    """Retrieve Study, Series or Instance: the DICOM instances of the resource."""
    ctx: WadoContext = request.app.state.ctx
    scope = Scope.of_request(request, ctx.settings.study_groups)
    offer = retrieve.OFFER if scope.instance else retrieve.SERIES_OFFER
    wanted = negotiate.choices(request, offer)
    found = await index.instances(ctx.lane, scope)
    audit_instances(request, found)
    planned = retrieve.plan(found, wanted, ctx.settings.max_transcode_bytes)
    base_url = public_base(request, ctx.settings)
    return await retrieve.response(ctx, planned, len(found), wanted[0].multipart, base_url)


@head_safe
async def retrieve_metadata(request: Request) -> Response:
    """Retrieve Study, Series or Instance Metadata, from the index only."""
    ctx: WadoContext = request.app.state.ctx
    scope = Scope.of_request(request, ctx.settings.study_groups)
    wanted = negotiate.choices(request, metadata.OFFER)[0]
    base_url = public_base(request, ctx.settings)
    return await metadata.response(ctx, request, scope, wanted, base_url)


@head_safe
async def retrieve_frames(request: Request) -> Response:
    """Retrieve Frames: byte ranges of the blob, decoded only when the client needs it."""
    ctx: WadoContext = request.app.state.ctx
    scope = Scope.of_request(request, ctx.settings.study_groups)
    numbers = frames.frame_numbers(request.path_params["frames"])
    wanted = negotiate.choices(request, frames.OFFER)
    detail = await index.instance_detail(ctx.lane, scope, pixels.PIXEL_DESCRIPTION)
    audit_instances(request, [detail.instance])
    return await _send_frames(request, detail, numbers, wanted)


@head_safe
async def retrieve_bulkdata(request: Request) -> Response:
    """Retrieve Bulk Data: a BulkDataURI of the metadata, with Range support."""
    ctx: WadoContext = request.app.state.ctx
    scope = Scope.of_request(request, ctx.settings.study_groups)
    path = bulkdata.bulk_path(request.path_params["path"])
    detail = await index.instance_detail(ctx.lane, scope, pixels.PIXEL_DESCRIPTION)
    audit_instances(request, [detail.instance])
    if bulkdata.is_encapsulated_pixel_data(detail, path):
        numbers = list(range(1, len(detail.frames) + 1))
        choices = negotiate.choices(request, frames.OFFER)
        return bulkdata.with_range(request, await _send_frames(request, detail, numbers, choices))
    wanted = negotiate.choices(request, bulkdata.OFFER)[0]
    return bulkdata.response(ctx, request, detail, path, wanted)


async def _send_frames(
    request: Request, detail: index.InstanceDetail, numbers: list[int], wanted: list[Choice]
) -> Response:
    ctx: WadoContext = request.app.state.ctx
    frames.check_numbers(detail.instance, numbers)
    plan = frames.plan(detail.instance.transfer_syntax_uid, wanted, len(numbers))
    try:
        if plan.decode:  # decoded frames are a conversion: capped (wado.conversions)
            async with ctx.conversions.admit(frame_share(detail.instance, len(numbers))):
                data = await frames.read_frames(ctx, detail, numbers, plan)
        else:
            data = await frames.read_frames(ctx, detail, numbers, plan)
    except TranscodeError as exc:
        raise NotAcceptable(str(exc)) from exc
    location = f"{public_base(request, ctx.settings)}/{detail.instance.instance_path}/frames/"
    return frames.response(data, plan, [f"{location}{n}" for n in numbers])


@head_safe
async def retrieve_rendered(request: Request) -> Response:
    """Rendered / thumbnail of a study, series, instance or frames, as JPEG, PNG or GIF."""
    ctx: WadoContext = request.app.state.ctx
    scope = Scope.of_request(request, ctx.settings.study_groups)
    params = rendered.RenderParams.of(request, request.scope["path"].endswith("/thumbnail"))
    wanted = negotiate.choices(request, rendered.OFFER)[0]
    listed = request.path_params.get("frames")
    asked = frames.frame_numbers(listed) if listed is not None else None
    # (only the parts of a multipart answer carry a Content-Location)
    base_url = public_base(request, ctx.settings) if wanted.multipart else ""
    if_none_match = request.headers.get("if-none-match", "")
    return await rendered_parts.response(ctx, scope, asked, params, wanted, base_url, if_none_match)
