"""Who may associate (PS3.8 §7.1.1): the calling AE allow-list, optionally bound to source
addresses, and what each calling AE may do.

The operations are ``store`` (C-STORE, storage commitment), ``find`` (C-FIND) and ``move``
(C-MOVE, C-GET); a table entry may grant them by the HTTP API's permission names as well
(``read``: find and move; ``write``: store), and each operation is audited under the HTTP
permission it needs (``PERMISSION``). A calling AE without ``move`` has the C-MOVE and C-GET
presentation contexts rejected at negotiation (PS3.8 §9.3.3.2: abstract syntax not supported),
since a C-MOVE cannot be refused with a status before its destination is named; a store or a
find without the permission is refused per request with 0x0124 (Not Authorized).

A calling AE is also a ``Principal`` (``principal``): its title the subject, its grants the HTTP
permissions, its ``groups`` its study access groups, so ``studyaccess`` narrows what it stores,
finds and retrieves as it does a token's (with no table on loopback it is ``LOCAL``, as an HTTP
caller with authentication off).

An unknown calling AE is refused at association with A-ASSOCIATE-RJ "calling AE title not
recognized" (rejected-permanent, service-user, reason 3). With no table, any calling AE may
associate when the listener is on loopback, and nobody otherwise: the HTTP API's rule (nothing
is served outside loopback to a caller the server does not know).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from dicomcommon.principal import LOCAL, Permission, Principal
from dicomcommon.web.auth import is_loopback
from dimse.settings import AeGrant, AeOperation, CallingAe, Settings

log = logging.getLogger(__name__)

EVERYTHING: frozenset[AeOperation] = frozenset(get_args(AeOperation))
REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED = 0x01, 0x01, 0x03
PERMISSION: Mapping[AeOperation, Permission] = {
    "store": Permission.WRITE,
    "find": Permission.READ,
    "move": Permission.READ,
}
_GRANTS: Mapping[AeGrant, frozenset[AeOperation]] = {
    "store": frozenset({"store"}),
    "find": frozenset({"find"}),
    "move": frozenset({"move"}),
    "read": frozenset({"find", "move"}),
    "write": frozenset({"store"}),
    "admin": EVERYTHING,
}
_ADMIN: Mapping[AeGrant, Permission] = {"admin": Permission.ADMIN}


def operations(grants: Iterable[AeGrant]) -> frozenset[AeOperation]:
    """The DIMSE operations that a table entry's grants allow."""
    return frozenset(op for grant in grants for op in _GRANTS[grant])


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
        return operations(entry.permissions)

    def principal(self, assoc: Any) -> Principal:
        """The calling AE of an established association as the HTTP API's caller."""
        if self.open_on_loopback:
            return LOCAL
        title = str(assoc.requestor.ae_title).strip()
        entry = self.calling_aes.get(title)
        grants = entry.permissions if entry is not None else frozenset()
        permissions = {PERMISSION[op] for op in operations(grants)}
        permissions |= {_ADMIN[g] for g in grants if g in _ADMIN}
        return Principal(
            subject=title,
            name=f"calling AE {title}",
            permissions=frozenset(permissions),
            groups=entry.groups if entry is not None else (),
            authenticated=False,
        )

    def permits(self, assoc: Any, operation: AeOperation) -> bool:
        """Whether the peer of an established association may do ``operation``."""
        allowed = self.permissions(assoc.requestor.ae_title, assoc.requestor.address)
        return allowed is not None and operation in allowed

    def admit(self, assoc: Any, retrieve_syntaxes: frozenset[str]) -> bool:
        """At ``EVT_REQUESTED``: refuse an unknown calling AE before negotiation (False), and
        offer the retrieve contexts (``retrieve_syntaxes``) only to an AE that may move."""
        requestor = assoc.requestor
        title = str(requestor.primitive.calling_ae_title).strip()
        allowed = self.permissions(title, requestor.address)
        if allowed is None:
            log.warning("refused association from %s at %s", title, requestor.address)
            assoc.acse.send_reject(REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED)
            assoc.kill()  # waits until the A-ASSOCIATE-RJ is sent, as pynetdicom's own
            return False
        if "move" not in allowed:
            offered = assoc.acceptor.supported_contexts
            assoc.acceptor.supported_contexts = [
                cx for cx in offered if cx.abstract_syntax not in retrieve_syntaxes
            ]
        return True
