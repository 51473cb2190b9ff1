"""The DIMSE service: the DICOM listener beside an HTTP app that serves only the probes and
metrics (the launcher, Traefik's health checks and Kubernetes read those)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette

from dicomcommon.adapters import db
from dicomcommon.adapters.ingest import Ingest
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.web.auditpublisher import AuditPublisher
from dicomcommon.web.webapp import ReadinessCheck, create_service_app
from dimse import scp
from dimse.auditing import SERVICE, DimseAudit
from dimse.settings import Settings


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        waiter = OutcomeWaiter.started(settings.nats, "dimse")
        bus = waiter.bus
        publisher = None
        if settings.audit.enabled:
            publisher = AuditPublisher(settings.nats, settings.audit, SERVICE)
            publisher.start()
        blobs = await open_store(settings.storage)
        ingest = Ingest(blobs, bus, waiter, settings.duplicate_policy == "overwrite")
        pool = await db.create_pool(settings.postgres, session_state=False)
        app.state.ingest, app.state.pool = ingest, pool
        loop = asyncio.get_running_loop()
        lane = db.Lane(pool)  # C-FIND's reads, without a pool acquire each (``db.Lane``)
        backends = scp.Backends(ingest, pool, DimseAudit(publisher, loop), lane)
        server = scp.start(settings, backends, loop)
        try:
            yield
        finally:
            await asyncio.to_thread(server.shutdown)
            if publisher is not None:
                await publisher.close()
            await waiter.close()
            await bus.close()
            await blobs.close()
            await lane.close()
            await pool.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        ingest: Ingest = app.state.ingest
        pool: asyncpg.Pool = app.state.pool

        async def index() -> None:
            await db.fetch(pool, "SELECT 1")

        return (ingest.bus.check, ingest.blobs.check, index)

    return create_service_app("dimse", [], lifespan, readiness, auth=settings.auth)
