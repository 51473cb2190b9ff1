"""The DICOM listener: one pynetdicom application entity with the Verification, storage, query /
retrieve and storage commitment SOP classes, the limits and TLS from the settings, and the
handlers bound to their events."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import (
    AE,
    VerificationPresentationContexts,
    _config,
    evt,
)
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from pynetdicom.transport import ThreadedAssociationServer

from dicomcommon.adapters import db
from dicomcommon.adapters.ingest import Ingest
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.web.audit import Action
from dimse import answers, commandsets, incoming, pdus, sockets, statuses, tls, wakeups
from dimse.auditing import DimseAudit
from dimse.callers import CallerPolicy
from dimse.commitment import CommitmentScp
from dimse.find import FindScp
from dimse.retrieve import RetrieveScp
from dimse.settings import Settings
from dimse.storageclasses import storage_classes
from dimse.store import StoreScp

# Received data sets go to a temporary file, not memory (``dimse.store``).
_config.STORE_RECV_CHUNKED_DATASET = True
# C-FIND identifiers name patients: never in the logs (pynetdicom decodes a request's identifier
# a second time, and pretty-prints it, only to log it).
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False
answers.install()  # C-FIND answers encoded once (``dimse.answers``)
commandsets.install()  # command sets encoded directly (``dimse.commandsets``)
pdus.install()  # C-FIND, C-STORE and C-ECHO messages written as ready PDUs (``dimse.pdus``)
incoming.install()  # C-FIND / C-ECHO requests, C-STORE responses read directly (``dimse.incoming``)
wakeups.install()  # association threads woken by their work, not 1 ms polls (``dimse.wakeups``)


_FIND_MODELS = (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
RETRIEVE_MODELS = frozenset(
    {
        PatientRootQueryRetrieveInformationModelMove,
        StudyRootQueryRetrieveInformationModelMove,
        PatientRootQueryRetrieveInformationModelGet,
        StudyRootQueryRetrieveInformationModelGet,
    }
)


@dataclass(frozen=True)
class Backends:
    """What the handlers work with: ingest (bus, blobs, outcomes), the index and the audit."""

    ingest: Ingest
    pool: asyncpg.Pool
    audit: DimseAudit
    lane: db.Lane  # the pool's connection kept for C-FIND's reads (``db.Lane``)

    @property
    def blobs(self) -> BlobStore:
        return self.ingest.blobs


def application_entity(settings: Settings) -> AE:
    """The AE with its limits; every storage SOP class in every transfer syntax we store, in
    either role (a C-GET requestor takes the sub-operations as the storage SCP)."""
    protocol_log = logging.getLogger("pynetdicom")
    protocol_log.setLevel(settings.protocol_log_level)
    # pynetdicom's standard handlers describe every PDU and message (at DEBUG, a few at INFO),
    # building the text under the association's lock whether or not it is logged: bound only
    # when their lines can be written.
    _config.LOG_HANDLER_LEVEL = "standard" if protocol_log.isEnabledFor(logging.INFO) else "none"
    ae = AE(ae_title=settings.ae_title)
    ae.maximum_associations = settings.max_associations
    ae.maximum_pdu_size = settings.max_pdu_bytes
    ae.acse_timeout = settings.acse_timeout_seconds
    ae.dimse_timeout = settings.dimse_timeout_seconds
    ae.network_timeout = settings.idle_timeout_seconds
    ae.require_called_aet = True
    ae.supported_contexts = VerificationPresentationContexts
    for model in (*_FIND_MODELS, *sorted(RETRIEVE_MODELS), StorageCommitmentPushModel):
        ae.add_supported_context(model)
    for sop_class in storage_classes():
        ae.add_supported_context(sop_class, AllTransferSyntaxes, scu_role=True, scp_role=True)
    return ae


class SharedContexts(list[Any]):
    """The listener's supported presentation contexts, shared by every association.

    pynetdicom deep-copies them for each association it accepts: every storage SOP class in
    every transfer syntax is thousands of validated UIDs, hundreds of milliseconds of CPU
    before the first PDU is answered. Negotiation only reads an acceptor's contexts (it builds
    new ones for the result, and ``CallerPolicy.admit`` assigns a new list), so the copy can
    share them."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return list(self)


def start(
    settings: Settings, backends: Backends, loop: asyncio.AbstractEventLoop
) -> ThreadedAssociationServer:
    """Listen in pynetdicom's threads; the handlers' work runs on ``loop``."""
    policy = CallerPolicy.of(settings)
    audit = backends.audit
    store = StoreScp(settings, backends.ingest, backends.pool, policy, audit, loop)
    find = FindScp(settings, backends.lane, policy, audit, loop)
    retrieve = RetrieveScp(settings, backends.pool, backends.blobs, policy, audit, loop)
    commitment = CommitmentScp(settings, backends.pool, backends.blobs, policy, audit, loop)

    def on_requested(event: Any) -> None:
        admitted = policy.admit(event.assoc, RETRIEVE_MODELS)
        status = statuses.SUCCESS if admitted else statuses.NOT_AUTHORIZED
        audit.record(event.assoc, Action.ASSOCIATE, "A-ASSOCIATE", status)

    handlers: list[Any] = [
        (evt.EVT_REQUESTED, on_requested),
        (evt.EVT_C_STORE, store.on_c_store),
        (evt.EVT_C_FIND, find.on_c_find),
        (evt.EVT_C_MOVE, retrieve.on_c_move),
        (evt.EVT_C_GET, retrieve.on_c_get),
        (evt.EVT_N_ACTION, commitment.on_n_action),
        *sockets.HANDLERS,
    ]
    server = application_entity(settings).start_server(
        (settings.host, settings.port),
        block=False,
        evt_handlers=handlers,
        ssl_context=tls.server_context(settings),
    )
    assert server is not None  # non-blocking start returns the server
    server.contexts = SharedContexts(server.contexts)
    return server
