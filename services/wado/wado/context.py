"""What every WADO handler needs, built once at startup and kept on ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dicomcommon.storage import BlobStore
from wado.conversions import ConversionGate
from wado.metadata_cache import MetadataCache
from wado.settings import Settings


@dataclass(frozen=True)
class WadoContext:
    settings: Settings
    pool: asyncpg.Pool
    store: BlobStore
    metadata_cache: MetadataCache
    conversions: ConversionGate
