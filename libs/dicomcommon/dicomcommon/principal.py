"""Who is asking and what they may do: the permissions of the routes table and the principal
that the authentication middleware puts on each request.

The permission set is Microsoft's DICOM server's (``read``, ``write``, ``delete``) plus ``admin``
for operational endpoints; ``public`` marks the few routes that need no identity (health).
Services read the caller with ``principal_of(scope)``; with authentication off the caller is
``LOCAL``, who may do everything (the loopback-only default of ``make run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"
    PUBLIC = "public"  # no identity needed (health probes)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token's subject and display name, the permissions its
    roles map to, and its study-access groups (``studyaccess`` applies them when study groups
    are on: then a caller without ``admin`` and without groups sees no study)."""

    subject: str
    name: str = ""
    permissions: frozenset[Permission] = frozenset()
    groups: tuple[str, ...] = ()
    authenticated: bool = True
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def may(self, permission: Permission) -> bool:
        return permission is Permission.PUBLIC or permission in self.permissions


# The caller when authentication is off: anyone who can reach the (loopback) server.
LOCAL = Principal(
    subject="anonymous",
    name="unauthenticated (authentication off)",
    permissions=frozenset(Permission) - {Permission.PUBLIC},
    authenticated=False,
)

SCOPE_KEY = "dicomweb.principal"


def principal_of(scope: Mapping[str, Any]) -> Principal:
    """The caller the middleware attached to this request's ASGI scope (``LOCAL`` if none)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, Principal) else LOCAL
