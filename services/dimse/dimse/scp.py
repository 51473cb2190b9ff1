"""The DICOM listener: one pynetdicom application entity with the Verification (C-ECHO) and
storage SOP classes, the limits from the settings, and the handlers bound to their events."""

from __future__ import annotations

import asyncio
from typing import Any

from pydicom.uid import AllTransferSyntaxes
from pynetdicom import (
    AE,
    AllStoragePresentationContexts,
    VerificationPresentationContexts,
    _config,
    evt,
)
from pynetdicom.transport import ThreadedAssociationServer

from dicomcommon.ingest import Ingest
from dimse.callers import CallerPolicy
from dimse.settings import Settings
from dimse.store import StoreScp

# Received data sets go to a temporary file, not memory (``dimse.store``).
_config.STORE_RECV_CHUNKED_DATASET = True


def application_entity(settings: Settings) -> AE:
    """The AE with its limits; every storage SOP class in every transfer syntax we store."""
    ae = AE(ae_title=settings.ae_title)
    ae.maximum_associations = settings.max_associations
    ae.maximum_pdu_size = settings.max_pdu_bytes
    ae.acse_timeout = settings.acse_timeout_seconds
    ae.dimse_timeout = settings.dimse_timeout_seconds
    ae.network_timeout = settings.idle_timeout_seconds
    ae.require_called_aet = True
    ae.supported_contexts = VerificationPresentationContexts
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
    return ae


def start(
    settings: Settings, ingest: Ingest, loop: asyncio.AbstractEventLoop
) -> ThreadedAssociationServer:
    """Listen in pynetdicom's threads; C-STORE work runs on ``loop``."""
    policy = CallerPolicy.of(settings)
    store = StoreScp(settings, ingest, policy, loop)
    handlers: list[Any] = [
        (evt.EVT_REQUESTED, policy.on_requested),
        (evt.EVT_C_STORE, store.on_c_store),
    ]
    server = application_entity(settings).start_server(
        (settings.host, settings.port), block=False, evt_handlers=handlers
    )
    assert server is not None  # non-blocking start returns the server
    return server
