"""What the DIMSE service classes that read the index share (C-MOVE / C-GET, commitment).

Both answer from the index and blob storage on the service's event loop, under the calling
AE's policy, and audit each operation; the C-STORE and C-FIND paths hold other things.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from dicomcommon.adapters.storage import BlobStore
from dimse.auditing import DimseAudit
from dimse.callers import CallerPolicy
from dimse.settings import Settings


@dataclass
class IndexScp:
    """The service's settings, index pool, blob store, caller policy, audit and loop."""

    settings: Settings
    pool: asyncpg.Pool
    blobs: BlobStore
    policy: CallerPolicy
    audit: DimseAudit
    loop: asyncio.AbstractEventLoop
