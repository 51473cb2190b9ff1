"""Who may associate (PS3.8 §7.1.1): the calling AE allow-list, optionally bound to source
addresses, and what each calling AE may do.

An unknown calling AE is refused at association with A-ASSOCIATE-RJ "calling AE title not
recognized" (rejected-permanent, service-user, reason 3). With no table, any calling AE may
associate when the listener is on loopback, and nobody otherwise: the HTTP API's rule (nothing
is served outside loopback to a caller the server does not know).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from dicomcommon.auth import is_loopback
from dimse.settings import AeOperation, CallingAe, Settings

log = logging.getLogger(__name__)

EVERYTHING: frozenset[AeOperation] = frozenset(get_args(AeOperation))
REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED = 0x01, 0x01, 0x03


@dataclass(frozen=True)
class CallerPolicy:
    calling_aes: Mapping[str, CallingAe]
    open_on_loopback: bool  # no table and a loopback listener: anyone may do everything

    @classmethod
    def of(cls, settings: Settings) -> CallerPolicy:
        return cls(settings.calling_aes, not settings.calling_aes and is_loopback(settings.host))

    def permissions(self, ae_title: str, address: str) -> frozenset[AeOperation] | None:
        """What this calling AE may do from this address; None: it may not associate."""
        if self.open_on_loopback:
            return EVERYTHING
        entry = self.calling_aes.get(ae_title.strip())
        if entry is None or (entry.hosts and address not in entry.hosts):
            return None
        return entry.permissions

    def permits(self, assoc: Any, operation: AeOperation) -> bool:
        """Whether the peer of an established association may do ``operation``."""
        allowed = self.permissions(assoc.requestor.ae_title, assoc.requestor.address)
        return allowed is not None and operation in allowed

    def on_requested(self, event: Any) -> None:
        """pynetdicom's ``EVT_REQUESTED``: refuse an unknown calling AE before negotiation."""
        requestor = event.assoc.requestor
        title = str(requestor.primitive.calling_ae_title).strip()
        if self.permissions(title, requestor.address) is None:
            log.warning("refused association from %s at %s", title, requestor.address)
            event.assoc.acse.send_reject(
                REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED
            )
            event.assoc.kill()  # waits until the A-ASSOCIATE-RJ is sent, as pynetdicom's own
