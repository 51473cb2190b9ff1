"""What every WADO handler needs, built once at startup and kept on ``app.state.ctx``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from starlette.requests import Request

from dicomcommon.adapters import db
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.dicom.conversions import ConversionGate
from dicomcommon.web import audit
from wado import index
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
    lane: db.Lane  # the index reads of requests (``db.Lane``): the pool's, cheaper


def audit_instances(request: Request, instances: Sequence[index.StoredInstance]) -> None:
    """The request's audit record names the instances it sends."""
    audit.record_of(request.scope).add_instances(
        [(i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid) for i in instances]
    )
