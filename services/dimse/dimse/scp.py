"""The DICOM listener: one pynetdicom application entity with the Verification (C-ECHO) and
storage SOP classes, the limits from the settings, and the handlers bound to their events."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import (
    AE,
    AllStoragePresentationContexts,
    VerificationPresentationContexts,
    _config,
    evt,
)
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from pynetdicom.transport import ThreadedAssociationServer

from dicomcommon.ingest import Ingest
from dimse.callers import CallerPolicy
from dimse.find import FindScp
from dimse.settings import Settings
from dimse.store import StoreScp

# Received data sets go to a temporary file, not memory (``dimse.store``).
_config.STORE_RECV_CHUNKED_DATASET = True


_FIND_MODELS = (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)


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
    for model in _FIND_MODELS:
        ae.add_supported_context(model)
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
    return ae


def start(
    settings: Settings, ingest: Ingest, pool: asyncpg.Pool, loop: asyncio.AbstractEventLoop
) -> ThreadedAssociationServer:
    """Listen in pynetdicom's threads; C-STORE and C-FIND work runs on ``loop``."""
    policy = CallerPolicy.of(settings)
    store = StoreScp(settings, ingest, policy, loop)
    find = FindScp(settings, pool, policy, loop)
    handlers: list[Any] = [
        (evt.EVT_REQUESTED, policy.on_requested),
        (evt.EVT_C_STORE, store.on_c_store),
        (evt.EVT_C_FIND, find.on_c_find),
    ]
    server = application_entity(settings).start_server(
        (settings.host, settings.port), block=False, evt_handlers=handlers
    )
    assert server is not None  # non-blocking start returns the server
    return server
