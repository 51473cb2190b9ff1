"""Wiring for QIDO-RS: routes, the PostgreSQL pool on ``app.state``, the readiness check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from dicomcommon import db
from dicomcommon.routes import DICOMWEB_ROOT
from dicomcommon.webapp import ReadinessCheck, create_service_app
from qido import handlers
from qido.settings import Settings

_READ = ["GET", "HEAD"]


def create_app(settings: Settings) -> Starlette:
    """The QIDO-RS app; routes keep the public ``/dicom-web`` prefix (PS3.18 §10.6.1)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await db.create_pool(settings.postgres)
        app.state.ctx = handlers.QidoContext(pool=pool, settings=settings)
        try:
            yield
        finally:
            await pool.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        async def postgres() -> None:
            await db.fetch(app.state.ctx.pool, "SELECT 1")

        return [postgres]

    r = DICOMWEB_ROOT
    routes = [
        Route(f"{r}/studies", handlers.search_studies, methods=_READ),
        Route(f"{r}/series", handlers.search_series, methods=_READ),
        Route(f"{r}/instances", handlers.search_instances, methods=_READ),
        Route(f"{r}/studies/{{study}}/series", handlers.search_series, methods=_READ),
        Route(f"{r}/studies/{{study}}/instances", handlers.search_instances, methods=_READ),
        Route(
            f"{r}/studies/{{study}}/series/{{series}}/instances",
            handlers.search_instances,
            methods=_READ,
        ),
    ]
    return create_service_app("qido", routes, lifespan, readiness, cors=settings.cors)
