"""What every WADO handler needs, built once at startup and kept on ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from starlette.requests import Request

from dicomcommon import studyaccess
from dicomcommon.principal import principal_of
from dicomcommon.storage import BlobStore
from wado.conversions import ConversionGate
from wado.metadata_cache import MetadataCache
from wado.render_cache import RenderCache
from wado.render_workers import RenderWorkers
from wado.settings import Settings


@dataclass(frozen=True)
class WadoContext:
    settings: Settings
    pool: asyncpg.Pool
    store: BlobStore
    metadata_cache: MetadataCache
    conversions: ConversionGate
    render_cache: RenderCache
    render_workers: RenderWorkers


def visible_groups(request: Request) -> studyaccess.Groups | None:
    """The study groups the caller of ``request`` is limited to (``None``: every study)."""
    ctx: WadoContext = request.app.state.ctx
    return studyaccess.visible_groups(principal_of(request.scope), ctx.settings.study_groups)
