"""What the DIMSE tests talk to and with: a DIMSE listener of our own on the stack's backends
(for settings the launched one does not have), a storage SCP that a C-MOVE sends to, and the
SCU associations."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import AllTransferSyntaxes, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.transport import ThreadedAssociationServer

from dicomcommon.settings import NatsSettings, PostgresSettings, StorageSettings
from dicomstack.ports import free_ports
from dicomstack.stack import Stack
from dimse import responses
from dimse.app import create_app
from dimse.settings import Settings

CALLED = "DICOMWEB"


@contextmanager
def own_listener(stack: Stack, **settings: Any) -> Iterator[tuple[str, int]]:
    """A DIMSE service in this process on the stack's PostgreSQL, NATS and storage."""
    [port] = free_ports("127.0.0.1", 1)
    app = create_app(
        Settings(
            postgres=PostgresSettings(url=stack.postgres_url),
            nats=NatsSettings(url=stack.nats_url),
            storage=StorageSettings.model_validate(stack.storage.model_dump()),
            port=port,
            **settings,
        )
    )
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    try:
        assert started.wait(30)
        yield "127.0.0.1", port
    finally:
        stop.set()
        thread.join(30)


@dataclass
class StorageScp:
    """A storage SCP that keeps what it receives (data sets with their file meta)."""

    ae_title: str
    port: int
    received: list[Dataset] = field(default_factory=list)
    server: ThreadedAssociationServer | None = None

    def on_c_store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        self.received.append(ds)
        return 0x0000


@contextmanager
def storage_scp(ae_title: str, port: int, uncompressed_only: bool = False) -> Iterator[StorageScp]:
    """Listen on ``port``; with ``uncompressed_only`` accept only the native little endian
    syntaxes (a C-MOVE then has to transcode compressed instances)."""
    scp = StorageScp(ae_title, port)
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        if uncompressed_only:
            ae.add_supported_context(
                context.abstract_syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
            )
        else:
            ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
    scp.server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, scp.on_c_store)]
    )
    try:
        yield scp
    finally:
        assert scp.server is not None
        scp.server.shutdown()


@contextmanager
def remote_aes(stack: Stack, table: dict[str, int]) -> Iterator[None]:
    """The stack's DIMSE service restarted knowing these AE titles (title → loopback port),
    then put back as it was."""
    value = json.dumps(
        {title: {"host": "127.0.0.1", "port": port} for title, port in table.items()}
    )
    stack.restart_with("dimse", {"DICOMWEB_DIMSE_REMOTE_AES": value})
    try:
        yield
    finally:
        stack.restart_with("dimse", {"DICOMWEB_DIMSE_REMOTE_AES": None})


def associate(
    address: tuple[str, int], calling: str, contexts: list[Any], **kwargs: Any
) -> Association:
    ae = AE(ae_title=calling)
    ae.requested_contexts = contexts
    handlers = [*responses.HANDLERS, *kwargs.pop("evt_handlers", [])]
    return ae.associate(*address, ae_title=CALLED, evt_handlers=handlers, **kwargs)


DIMSE_MARKS = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.usefixtures("leaked_sockets_collected"),
]
"""Every DIMSE test module's marks (see ``leaked_sockets_collected`` in this folder's conftest)."""
