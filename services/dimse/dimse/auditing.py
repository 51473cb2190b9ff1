"""The DIMSE side of the audit trail (``dicomcommon.web.audit``): one ``AuditEvent`` per association
(accepted or refused) and per operation, published as the HTTP services' are.

The subject is the calling AE title, the address the peer's; ``method`` names the DIMSE
service (``C-STORE``, ``C-FIND``, ``C-MOVE``, ``C-GET``, ``N-ACTION``, ``A-ASSOCIATE``),
``path`` the calling and called AE titles, ``query`` the identifier's keys and the DIMSE status.
The event's ``status`` is the HTTP status of the same outcome (``http_status``), so audit
queries and the DICOM audit messages read DIMSE and HTTP events alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from dicomcommon.web.audit import MAX_UIDS, Action, AuditEvent, AuditRecord, clip
from dicomcommon.web.auditpublisher import AuditPublisher
from dimse import statuses

SERVICE = "dimse"
_HTTP = {
    statuses.NOT_AUTHORIZED: 403,
    statuses.OUT_OF_RESOURCES: 503,
    statuses.DUPLICATE_SOP_INSTANCE: 409,
}


def http_status(status: int) -> int:
    """The HTTP status of a DIMSE outcome: success and warnings 200, refusals 403, resources
    503, duplicates 409, other failures 400 (the peer's data or request)."""
    if status in _HTTP:
        return _HTTP[status]
    if status == statuses.SUCCESS or status & 0xF000 == 0xB000 or status == statuses.CANCEL:
        return 200
    return 400


class DimseAudit:
    """Builds and submits the events; without a publisher (auditing off) it records nothing.
    ``record`` may be called from pynetdicom's threads: the submit runs on the service loop."""

    def __init__(self, publisher: AuditPublisher | None, loop: asyncio.AbstractEventLoop) -> None:
        self.publisher = publisher
        self.loop = loop

    def record(
        self,
        assoc: Any,
        action: Action,
        method: str,
        status: int,
        touched: AuditRecord | None = None,
        query: str = "",
    ) -> None:
        if self.publisher is None:
            return
        touched = touched or AuditRecord()
        event = AuditEvent(
            event_id=AuditEvent.new_id(),
            occurred_at=datetime.now(UTC),
            service=SERVICE,
            action=action,
            method=method,
            path=clip(f"{_calling(assoc)} -> {_called(assoc)}"),
            query=clip(" ".join(filter(None, [query, f"status=0x{status:04X}"]))),
            user_subject=clip(_calling(assoc)),
            user_name=clip(f"calling AE {_calling(assoc)}"),
            client_address=clip(str(assoc.requestor.address)),
            request_id=f"{assoc.native_id or id(assoc)}",
            **touched.event_fields(http_status(status)),
        )
        self.loop.call_soon_threadsafe(self.publisher.submit, event)


def _calling(assoc: Any) -> str:
    primitive = assoc.requestor.primitive
    title = primitive.calling_ae_title if primitive is not None else assoc.requestor.ae_title
    return str(title).strip()


def _called(assoc: Any) -> str:
    primitive = assoc.requestor.primitive
    title = primitive.called_ae_title if primitive is not None else assoc.acceptor.ae_title
    return str(title).strip()


def identifier_text(pairs: Iterable[tuple[str, str]]) -> str:
    """An identifier's keys as ``Keyword=value`` words (bounded, for the event's query)."""
    return " ".join(f"{k}={v}" for k, v in list(pairs)[:MAX_UIDS])
