"""Wiring for QIDO-RS: routes, the PostgreSQL pool on ``app.state``, the readiness check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from dicomcommon.adapters import db
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.schema import version
from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomcommon.web.webapp import ReadinessCheck, create_web_service
from qido import audittrail, feedhandlers, handlers
from qido.context import QidoContext
from qido.settings import Settings

_READ = ["GET", "HEAD"]
# The resources a level is searched at: all of it, or within its parents (PS3.18 §10.6.1).
_LEVEL_PATHS = {
    Level.STUDY: ("/studies",),
    Level.SERIES: ("/series", "/studies/{study}/series"),
    Level.INSTANCE: (
        "/instances",
        "/studies/{study}/instances",
        "/studies/{study}/series/{series}/instances",
    ),
}


def create_app(settings: Settings) -> Starlette:
    """The QIDO-RS app; routes keep the public ``/dicom-web`` prefix (PS3.18 §10.6.1)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await db.create_pool(
            settings.postgres, session_state=False, statement_timeout=settings.statement_timeout
        )
        app.state.ctx = QidoContext(pool=pool, settings=settings)
        app.state.schema_gate = version.SchemaGate(pool, version.shipped_version())
        app.state.feed_watch = FeedWatch(settings.postgres)
        app.state.feed_watch.start()
        try:
            yield
        finally:
            await app.state.feed_watch.close()
            await pool.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        async def postgres() -> None:
            await db.fetch(app.state.ctx.pool, "SELECT 1")

        return [postgres]

    def gates(app: Starlette) -> Sequence[ReadinessCheck]:
        return [app.state.schema_gate]

    r = DICOMWEB_ROOT
    routes = [
        *_search_routes(),
        *_feed_routes(),
        Route(f"{r}/audit", audittrail.read_audit, methods=_READ),
    ]
    return create_web_service("qido", settings, routes, lifespan, readiness, gates)


def _search_routes() -> list[Route]:
    """Each level's search, and how many it matches (dcm4chee-arc's ``…/count`` resources),
    at every resource that holds the level; the counts first so no search path shadows them."""
    places = [
        (f"{DICOMWEB_ROOT}{path}", level) for level, paths in _LEVEL_PATHS.items() for path in paths
    ]
    counts = [
        Route(f"{path}/count", handlers.at_level(handlers.count, level), methods=_READ)
        for path, level in places
    ]
    searches = [
        Route(path, handlers.at_level(handlers.search, level), methods=_READ)
        for path, level in places
    ]
    return counts + searches


def _feed_routes() -> list[Route]:
    """The change feed, Microsoft-compatible (v1 and v2), plus Server-Sent Events."""
    r = DICOMWEB_ROOT
    return [
        Route(f"{r}/changefeed", feedhandlers.read_v1, methods=_READ),
        Route(f"{r}/changefeed/latest", feedhandlers.latest, methods=_READ),
        Route(f"{r}/changefeed/stream", feedhandlers.stream, methods=_READ),
        Route(f"{r}/v2/changefeed", feedhandlers.read_v2, methods=_READ),
        Route(f"{r}/v2/changefeed/latest", feedhandlers.latest, methods=_READ),
    ]
