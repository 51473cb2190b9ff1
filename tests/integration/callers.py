"""Callers with an identity, for the study-groups tests: one HTTP client per principal,
through the gateway of a stack that requires bearer tokens and has study groups on.

Each principal is a user of the stack's local OIDC provider whose roles grant its
permissions and whose groups claim holds its groups; its client sends that user's real token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from dicomcommon.principal import Permission, Principal
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests.tokens import token_for

EVERYTHING_BUT_ADMIN = frozenset({Permission.READ, Permission.WRITE, Permission.DELETE})
# The subject a modality's service account signs in as; its new studies go to ``cardio``.
MODALITY_SUBJECT = "modality-ct-1"
# The default roles granting each permission set (DICOMWEB_AUTH_ROLE_PERMISSIONS' defaults).
_ROLES = {EVERYTHING_BUT_ADMIN: ["writer", "deleter"]}


def user(subject: str, *groups: str) -> Principal:
    return Principal(subject=subject, permissions=EVERYTHING_BUT_ADMIN, groups=groups)


ADMIN = Principal(subject="admin", permissions=frozenset(Permission) - {Permission.PUBLIC})


@contextmanager
def groups_stack(folder: Path) -> Iterator[Stack]:
    """A stack with authentication and study groups on (``MODALITY_SUBJECT``'s new studies
    get ``cardio``)."""
    environ = {
        **os.environ,
        "DICOMWEB_AUTH_STUDY_GROUPS_ENABLED": "true",
        "DICOMWEB_AUTH_STUDY_GROUPS_UPLOADER_GROUPS": json.dumps({MODALITY_SUBJECT: ["cardio"]}),
    }
    with Stack(StackSettings.ephemeral(folder, auth=True), environ=environ) as running:
        yield running


class Callers:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._tokens: dict[Principal, str] = {}

    def token(self, principal: Principal) -> str:
        if principal not in self._tokens:
            roles = ["admin"] if principal.may(Permission.ADMIN) else _ROLES[principal.permissions]
            self._tokens[principal] = token_for(
                self.stack, principal.subject, name=principal.subject, roles=roles,
                groups=list(principal.groups),
            )  # fmt: skip
        return self._tokens[principal]

    def client(self, principal: Principal) -> httpx.AsyncClient:
        """A client of the gateway speaking as ``principal``."""
        headers = {"Authorization": f"Bearer {self.token(principal)}"}
        return httpx.AsyncClient(base_url=self.stack.gateway_url, headers=headers, timeout=60)
