"""Callers with an identity, for the study-groups tests: one HTTP client per (service,
principal).

The services run in this process on the stack's PostgreSQL, NATS and storage, with study
groups on, and each request carries the given ``Principal`` in its ASGI scope exactly where
the authentication middleware puts the caller of a verified token (``principal.SCOPE_KEY``).
With an OIDC provider in the stack, ``Callers.client`` becomes a gateway client with a bearer
token for the principal's subject, roles and groups; the tests do not change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from delow.app import create_app as delow_app
from delow.settings import Settings as DelowSettings
from dicomcommon.principal import SCOPE_KEY, Permission, Principal
from dicomcommon.settings import NatsSettings, PostgresSettings, StudyGroupsSettings
from dicomstack.stack import Stack
from qido.app import create_app as qido_app
from qido.settings import Settings as QidoSettings
from stow.app import create_app as stow_app
from stow.settings import Settings as StowSettings
from wado.app import create_app as wado_app
from wado.settings import Settings as WadoSettings

EVERYTHING_BUT_ADMIN = frozenset({Permission.READ, Permission.WRITE, Permission.DELETE})
# The subject a modality's service account signs in as; its new studies go to ``cardio``.
MODALITY_SUBJECT = "modality-ct-1"


def user(subject: str, *groups: str) -> Principal:
    return Principal(subject=subject, permissions=EVERYTHING_BUT_ADMIN, groups=groups)


ADMIN = Principal(subject="admin", permissions=frozenset(Permission) - {Permission.PUBLIC})


class AsCaller:
    """The app, with every HTTP request made by ``principal``."""

    def __init__(self, app: ASGIApp, principal: Principal) -> None:
        self.app, self.principal = app, principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, SCOPE_KEY: self.principal}
        await self.app(scope, receive, send)


class Callers:
    def __init__(self, apps: dict[str, Starlette]) -> None:
        self.apps = apps

    def client(self, service: str, principal: Principal) -> httpx.AsyncClient:
        """A client of ``service`` (qido, wado, stow, delow) speaking as ``principal``."""
        transport = httpx.ASGITransport(app=AsCaller(self.apps[service], principal))
        return httpx.AsyncClient(transport=transport, base_url="http://dicomweb.test")


async def _wait_ready(client: httpx.AsyncClient, seconds: float = 30) -> None:
    """Until the service says its dependencies answer (its NATS client connects lazily)."""
    deadline = time.monotonic() + seconds
    async with client:
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"{client} not ready"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def callers(stack: Stack) -> AsyncIterator[Callers]:
    groups = StudyGroupsSettings(enabled=True, uploader_groups={MODALITY_SUBJECT: ["cardio"]})
    postgres = PostgresSettings(url=stack.postgres_url)
    nats = NatsSettings(url=stack.nats_url)
    apps = {
        "qido": qido_app(QidoSettings(postgres=postgres, study_groups=groups)),
        "wado": wado_app(
            WadoSettings(postgres=postgres, storage=stack.storage, study_groups=groups)
        ),
        "stow": stow_app(StowSettings(nats=nats, storage=stack.storage, study_groups=groups)),
        "delow": delow_app(DelowSettings(nats=nats, study_groups=groups)),
    }
    async with AsyncExitStack() as started:
        for app in apps.values():
            await started.enter_async_context(app.router.lifespan_context(app))
        found = Callers(apps)
        for service in apps:
            await _wait_ready(found.client(service, ADMIN))
        yield found
