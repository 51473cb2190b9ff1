"""Indexer process: the ingest consumer and blob clean-up as background tasks, plus an admin
API (probes, metrics, and the stack health report the gateway serves at ``/healthz``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import Bus
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.errors import InvalidQuery
from dicomcommon.web import parameters
from dicomcommon.web.routes import DICOMWEB_ROOT
from dicomcommon.web.webapp import ReadinessCheck, create_web_service
from indexer import (
    access,
    backlog,
    cleanup,
    health,
    loops,
    parked_api,
    querytags_api,
    reindex,
    sweeper,
)
from indexer.auditlog import AuditRecorder
from indexer.consumer import IngestConsumer
from indexer.migrate import migrate
from indexer.relay import Relay
from indexer.settings import Settings

log = logging.getLogger(__name__)


async def _migrate_until_done(pool: asyncpg.Pool) -> None:
    while True:
        try:
            async with db.connection(pool) as conn:
                await migrate(conn)
                return
        except Exception as exc:
            log.warning("schema migration waits for PostgreSQL: %s", exc)
            await asyncio.sleep(1)


async def _work(settings: Settings, app: Starlette) -> None:
    """Migrate first, then consume commands and audit events, clean up, relay the change
    feed and measure the backlogs for ever."""
    await _migrate_until_done(app.state.pool)
    app.state.migrated.set()
    watch = FeedWatch(settings.postgres)
    watch.start()
    feed_relay = Relay(app.state.pool, app.state.bus, settings.nats, settings.http.public_base_url)
    try:
        await asyncio.gather(
            app.state.consumer.run(),
            AuditRecorder(settings, app.state.lean_pool, app.state.bus).run(),
            cleanup.run(
                app.state.pool,
                app.state.blobs,
                settings.cleanup_interval_seconds,
                settings.cleanup_batch,
            ),
            feed_relay.run(watch),
            loops.resume_forever(
                "reindex",
                lambda: reindex.run(
                    app.state.pool, settings.reindex_batch_size, settings.reindex_pause_seconds
                ),
            ),
            sweeper.run(
                app.state.pool,
                app.state.blobs,
                app.state.bus,
                settings.orphan_sweep_interval_seconds,
                settings.orphan_age_seconds,
            ),
            backlog.run(
                app.state.pool, app.state.bus, settings.nats, settings.backlog_interval_seconds
            ),
        )
    finally:
        await watch.close()


async def sweep_orphans(request: Request) -> Response:
    """Operators' trigger (on the indexer's own port, not routed by the gateway):
    ``POST /orphans/sweep?older_than=SECONDS``."""
    state = request.app.state
    text = request.query_params.get("older_than")
    older_than = (
        parameters.number("older_than", text) if text else state.settings.orphan_age_seconds
    )
    if older_than < 0:
        raise InvalidQuery("older_than must be a number of seconds, 0 or more")
    queued = await sweeper.sweep_once(state.pool, state.blobs, state.bus, older_than)
    return JSONResponse({"queued": queued})


_STUDY_ACCESS = f"{DICOMWEB_ROOT}/studies/{{study}}/access"
_TAGS = f"{DICOMWEB_ROOT}/extendedquerytags"
_TAG = f"{_TAGS}/{{tag_path}}"


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        s = app.state
        s.settings = settings
        s.pool = await db.create_pool(settings.postgres)
        # The ingest, audit and relay loops take a connection per batch and leave no session
        # state on it (transaction-scoped locks only): releasing it costs no reset query.
        s.lean_pool = await db.create_pool(settings.postgres, session_state=False)
        s.bus = Bus(settings.nats, "indexer")
        s.bus.start()
        s.blobs = await open_store(settings.storage)
        s.http_client = httpx.AsyncClient(timeout=2)
        s.migrated = asyncio.Event()
        s.consumer = IngestConsumer(settings, s.lean_pool, s.bus, s.blobs)

        async def check_postgres() -> None:
            await db.fetch(s.pool, "SELECT 1")

        async def schema() -> None:
            if not s.migrated.is_set():
                raise RuntimeError("schema migration not finished")

        s.check_postgres = check_postgres
        s.schema_gate = schema
        worker = asyncio.create_task(_work(settings, app), name="indexer-work")
        try:
            yield
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await s.http_client.aclose()
            await s.bus.close()
            await s.blobs.close()
            await s.lean_pool.close()
            await s.pool.close()

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        return (app.state.check_postgres, app.state.bus.check, app.state.blobs.check)

    def gates(app: Starlette) -> Sequence[ReadinessCheck]:
        return (app.state.schema_gate,)

    routes = [
        Route("/stack/health", health.stack_health, methods=["GET", "HEAD"]),
        Route("/orphans/sweep", sweep_orphans, methods=["POST"]),
        Route(_STUDY_ACCESS, access.read_access, methods=["GET", "HEAD"]),
        Route(_STUDY_ACCESS, access.change_access, methods=["PUT"]),
        Route("/parked", parked_api.list_parked, methods=["GET"]),
        Route(_TAGS, querytags_api.add_tags, methods=["POST"]),
        Route(_TAGS, querytags_api.list_tags, methods=["GET", "HEAD"]),
        Route(_TAG, querytags_api.get_tag, methods=["GET", "HEAD"]),
        Route(_TAG, querytags_api.update_tag, methods=["PATCH"]),
        Route(_TAG, querytags_api.delete_tag, methods=["DELETE"]),
        Route(f"{_TAG}/errors", querytags_api.list_errors, methods=["GET", "HEAD"]),
        Route(
            f"{DICOMWEB_ROOT}/operations/{{operation_id}}",
            querytags_api.get_operation,
            methods=["GET", "HEAD"],
        ),
        Route("/parked/{command_id}/retry", parked_api.retry_parked, methods=["POST"]),
    ]
    return create_web_service("indexer", settings, routes, lifespan, readiness, gates)
