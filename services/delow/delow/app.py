"""DELETE application: routes, and the NATS client built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from delow import handlers
from delow.settings import Settings
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomcommon.web.webapp import ReadinessCheck, create_web_service


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.waiter = OutcomeWaiter.started(settings.nats, "delow")
        app.state.bus = app.state.waiter.bus
        try:
            yield
        finally:
            await app.state.waiter.close()
            await app.state.bus.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        return (app.state.bus.check,)

    study = f"{DICOMWEB_ROOT}/studies/{{study}}"
    routes = [
        Route(study, handlers.delete, methods=["DELETE"]),
        Route(f"{study}/series/{{series}}", handlers.delete, methods=["DELETE"]),
        Route(f"{study}/series/{{series}}/instances/{{instance}}", handlers.delete,
              methods=["DELETE"]),
    ]  # fmt: skip
    return create_web_service("delow", settings, routes, lifespan, readiness)
