"""Readiness waits for the schema the code needs, then survives a PostgreSQL outage: against a
real server, on a fresh database the indexer migrates during the test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from dicomcommon.adapters import db
from dicomcommon.principal import Permission
from dicomcommon.schema import MIGRATIONS, version
from dicomcommon.web.routes import Route as TableRoute
from dicomcommon.web.webapp import ReadinessCheck, create_service_app
from indexer.migrate import migrate, migration_files

pytestmark = pytest.mark.integration


def test_every_migration_lives_in_the_schema_package() -> None:
    """A migration anywhere else would ship but never be applied, nor count for readiness."""
    root = Path(__file__).resolve().parents[3]
    stray = [
        str(path.relative_to(root))
        for folder in ("services", "libs")
        for path in (root / folder).rglob("*.sql")
        if path.parent != Path(str(MIGRATIONS)) and ".venv" not in path.parts
    ]
    assert stray == [], "move them to libs/dicomcommon/dicomcommon/schema/migrations"


def test_the_shipped_version_is_the_newest_migration_file() -> None:
    newest, _ = migration_files()[-1]
    assert version.shipped_version() == int(newest[:4])


async def test_gate_waits_for_the_migration_then_holds_through_an_outage(
    fresh_pool: asyncpg.Pool,
) -> None:
    gate = version.SchemaGate(fresh_pool, version.shipped_version())
    with pytest.raises(RuntimeError, match="schema version 0"):
        await gate()
    async with db.connection(fresh_pool) as conn:
        await migrate(conn)
    assert await version.applied_version(fresh_pool) == version.shipped_version()
    await gate()
    app = _app(gate, fresh_pool)
    async with _client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        await fresh_pool.close()  # PostgreSQL gone for every replica alike
        assert (await client.get("/readyz")).status_code == 503
        ready = await client.get("/readyz/self")
        assert ready.status_code == 200, ready.text


async def test_a_newer_code_than_the_schema_is_not_ready(fresh_pool: asyncpg.Pool) -> None:
    async with db.connection(fresh_pool) as conn:
        await migrate(conn)
    gate = version.SchemaGate(fresh_pool, version.shipped_version() + 1)
    async with _client(_app(gate, fresh_pool)) as client:
        response = await client.get("/readyz/self")
    assert response.status_code == 503
    assert "needs" in response.json()["failures"]["schema"]


def _app(gate: version.SchemaGate, pool: asyncpg.Pool) -> Starlette:
    async def postgres() -> None:
        await db.fetch(pool, "SELECT 1")

    def readiness(app: Starlette) -> Sequence[ReadinessCheck]:
        return [postgres]

    probes = TableRoute(
        "probes", "test", ("GET", "HEAD"), r"^/(readyz|readyz/self)$", 1, Permission.PUBLIC
    )
    return create_service_app(
        "test", [], readiness=readiness, gates=lambda app: [gate], table=[probes]
    )


def _client(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://service")
