"""Fixtures the QIDO database tests share: one PostgreSQL per session, and QIDO apps served
in-process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from dicomstack.ports import free_ports
from dicomstack.postgres import Postgres
from qido.app import create_app
from qido.settings import Settings


@pytest.fixture(scope="session")
def postgres_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The session stack's PostgreSQL when the root fixtures apply, else
    ``DICOMWEB_TEST_POSTGRES_URL``, else the launcher's embedded PostgreSQL on its own."""
    try:
        yield str(request.getfixturevalue("stack").postgres_url)
        return
    except pytest.FixtureLookupError:
        pass
    if url := os.environ.get("DICOMWEB_TEST_POSTGRES_URL"):
        yield url
        return
    folder = tmp_path_factory.mktemp("qido-postgres")
    port = free_ports("127.0.0.1", 1)[0]
    server = Postgres(folder / "data", folder / "postgres.log", "127.0.0.1", port)
    server.start(timeout=60)
    try:
        yield server.url
    finally:
        server.stop()


@asynccontextmanager
async def _in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://qido.test") as c:
            yield c


@pytest.fixture(scope="session")
def serve() -> Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with serve(settings) as client``: a client of a QIDO app of ``settings``,
    served in-process with its lifespan around it."""
    return _in_process
