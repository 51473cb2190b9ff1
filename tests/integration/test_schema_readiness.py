"""QIDO and WADO stay unready (``/readyz/self``, Kubernetes' readiness probe) until PostgreSQL
has the schema their SQL needs, the newest migration shipped with them; the indexer's
migration makes them ready, as a rollout's migration hook or init container does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from dicomcommon.schema import version
from dicomcommon.settings import PostgresSettings, StorageSettings
from dicomstack.stack import Stack
from indexer.migrate import migrate
from qido.app import create_app as create_qido
from qido.settings import Settings as QidoSettings
from tests.databases import new_database
from wado.app import create_app as create_wado
from wado.settings import Settings as WadoSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def empty_database(stack: Stack) -> AsyncIterator[str]:
    """The URL of a new database, without any migration, on the stack's PostgreSQL."""
    async with new_database(stack, "ready") as url:
        yield url


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


def _qido(url: str, blobs: Path) -> Starlette:
    return create_qido(QidoSettings(postgres=PostgresSettings(url=SecretStr(url))))


def _wado(url: str, blobs: Path) -> Starlette:
    storage = StorageSettings(backend="filesystem", root=blobs)
    return create_wado(WadoSettings(postgres=PostgresSettings(url=SecretStr(url)), storage=storage))


@pytest.mark.parametrize("create", [_qido, _wado], ids=["qido", "wado"])
async def test_reader_is_ready_only_once_its_schema_is_in(
    create: Callable[[str, Path], Starlette], empty_database: str, tmp_path: Path
) -> None:
    app = create(empty_database, tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client,
    ):
        waiting = await client.get("/readyz/self")
        assert waiting.status_code == 503
        expected = f"schema version 0; this code needs {version.shipped_version()}"
        assert waiting.json()["failures"]["schema"] == expected
        await _migrate(empty_database)
        assert (await client.get("/readyz/self")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
