"""STOW-RS application: routes, and the clients built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from dicomcommon.bus import Bus
from dicomcommon.outcomes import OutcomeWaiter
from dicomcommon.routes import DICOMWEB_ROOT
from dicomcommon.storage.factory import open_store
from dicomcommon.webapp import ReadinessCheck, create_service_app
from stow import handlers
from stow.ingest import Ingest
from stow.settings import Settings


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bus = Bus(settings.nats, "stow")
        bus.start()
        waiter = OutcomeWaiter(bus)
        waiter.start()
        blobs = await open_store(settings.storage)
        app.state.ingest = Ingest(settings, blobs, bus, waiter)
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
    return create_service_app(
        "stow", routes, lifespan, readiness, cors=settings.cors, auth=settings.auth
    )
