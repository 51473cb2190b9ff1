"""Wiring for WADO-RS and WADO-URI: routes, the PostgreSQL pool and the blob store on
``app.state.ctx``, readiness checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from dicomcommon.adapters import db
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.schema import version
from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomcommon.web.webapp import ReadinessCheck, create_web_service
from wado import decoders, handlers, prerender, viewer, wado_uri
from wado.context import WadoContext
from wado.metadata_cache import MetadataCache
from wado.render_cache import RenderCache
from wado.render_workers import RenderWorkers
from wado.settings import Settings

_READ = ["GET", "HEAD"]


def create_app(settings: Settings) -> Starlette:
    """The WADO app; routes keep the public ``/dicom-web`` prefix (PS3.18 §10.4.1)."""
    decoders.prefer_fastest(settings.decode_threads)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await db.create_pool(settings.postgres, session_state=False)
        try:
            store = await open_store(settings.storage)
            try:
                cache = MetadataCache(settings.metadata_cache_bytes)
                gate = settings.conversion_gate()
                pictures = RenderCache(settings.render_cache_bytes)
                workers = RenderWorkers(settings.render_processes, settings.decode_threads)
                lane = db.Lane(pool)
                ctx = WadoContext(settings, pool, store, cache, gate, pictures, workers, lane)
                app.state.ctx = ctx
                app.state.schema_gate = version.SchemaGate(pool, version.shipped_version())
                try:
                    async with _rendering_ahead(ctx):
                        yield
                finally:
                    workers.close()
                    await lane.close()
            finally:
                await store.close()
        finally:
            await pool.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        ctx: WadoContext = app.state.ctx

        async def postgres() -> None:
            await db.fetch(ctx.pool, "SELECT 1")

        async def storage() -> None:
            await ctx.store.check()

        return [postgres, storage]

    def gates(app: Starlette) -> Sequence[ReadinessCheck]:
        return [app.state.schema_gate]

    return create_web_service(
        "wado", settings, [*_routes(), *viewer.routes(settings)], lifespan, readiness, gates
    )


@asynccontextmanager
async def _rendering_ahead(ctx: WadoContext) -> AsyncIterator[None]:
    """Pictures rendered as instances are stored (``wado.prerender``), when settings ask."""
    settings = ctx.settings
    kinds = prerender.default_pictures(settings.prerender_thumbnails, settings.prerender_rendered)
    if not kinds:
        yield
        return
    watch = FeedWatch(settings.postgres)
    ahead = prerender.Prerenderer(ctx, watch, kinds, settings.prerender_max_lag)
    watch.start()
    ahead.start()
    try:
        yield
    finally:
        await ahead.close()
        await watch.close()


def _routes() -> list[Route]:
    """Starlette tries routes in order until one matches (a regular expression each), so the
    requests a viewer repeats most, on an instance's pictures and frames, come first; no two
    of these paths overlap, so the order changes nothing else."""
    study = f"{DICOMWEB_ROOT}/studies/{{study}}"
    series = f"{study}/series/{{series}}"
    instance = f"{series}/instances/{{instance}}"
    frames = f"{instance}/frames/{{frames}}"
    return [
        *(
            Route(f"{level}/{kind}", handlers.retrieve_rendered, methods=_READ)
            for level in (instance, frames, series, study)
            for kind in ("rendered", "thumbnail")
        ),
        Route(frames, handlers.retrieve_frames, methods=_READ),
        *(
            Route(f"{level}/metadata", handlers.retrieve_metadata, methods=_READ)
            for level in (instance, series, study)
        ),
        Route(instance, handlers.retrieve_instances, methods=_READ),
        Route(series, handlers.retrieve_instances, methods=_READ),
        Route(study, handlers.retrieve_instances, methods=_READ),
        Route(f"{instance}/bulkdata/{{path:path}}", handlers.retrieve_bulkdata, methods=_READ),
        Route("/wado", wado_uri.retrieve_object, methods=_READ),  # PS3.18 §9
    ]
