"""STOW-RS application: routes, and the clients built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from dicomcommon.adapters.grouping import GroupPublisher
from dicomcommon.adapters.ingest import Ingest
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.dicom.deidentify import Deidentifier
from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomcommon.web.webapp import ReadinessCheck, create_web_service
from stow import handlers
from stow.settings import Settings


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        waiter = OutcomeWaiter.started(settings.nats, "stow")
        bus = waiter.bus
        blobs = await open_store(settings.storage)
        app.state.settings = settings
        app.state.deidentifier = Deidentifier.of(settings.deidentify)  # one for every request
        app.state.ingest = Ingest(blobs, bus, waiter, settings.duplicate_policy == "overwrite")
        # One for every request: the batches of concurrent requests leave together.
        app.state.publisher = GroupPublisher(app.state.ingest, "stow")
        try:
            yield
        finally:
            await waiter.close()
            await bus.close()
            await blobs.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        ingest: Ingest = app.state.ingest
        return (ingest.bus.check, ingest.blobs.check)

    routes = [
        Route(f"{DICOMWEB_ROOT}/studies", handlers.store_instances, methods=["POST"]),
        Route(f"{DICOMWEB_ROOT}/studies/{{study}}", handlers.store_instances, methods=["POST"]),
    ]
    return create_web_service("stow", settings, routes, lifespan, readiness)
