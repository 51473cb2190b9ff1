"""The audit trail's record: who did what to which patient data, from where, with what result.

Each HTTP request on patient data becomes one ``AuditEvent``. Its action comes from the route
it matched in the routes table (``ACTIONS``: a route without an entry is not audited, and a test
fails for a patient-data route left out); the shared web plumbing (``audithook``) fills the
caller, address, status and request id, and handlers add what only they know (the UIDs they
returned, stored or deleted, and how many) to the request's ``AuditRecord`` via ``record_of``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from dicomcommon.web.routes import routes_for

SCOPE_KEY = "dicomweb.audit"
# Each list of UIDs keeps at most this many (the count stays exact): a study of 50,000
# instances must not make an event larger than a NATS message.
MAX_UIDS = 1000
_MAX_TEXT = 2048


class Action(StrEnum):
    SEARCH = "search"
    RETRIEVE = "retrieve"
    STORE = "store"
    DELETE = "delete"
    FEED_READ = "feed-read"
    AUDIT_READ = "audit-read"
    ADMINISTER = "administer"  # operators' endpoints: study access, parked commands, sweeps
    ASSOCIATE = "associate"  # a DIMSE association accepted or refused (the calling AE)


# Route name (``dicomcommon.web.routes``) → what a request on it does to patient data.
ACTIONS: Mapping[str, Action] = {
    "stow": Action.STORE,
    "qido": Action.SEARCH,
    "changefeed": Action.FEED_READ,
    "wado-rs": Action.RETRIEVE,
    "wado-uri": Action.RETRIEVE,
    "delete": Action.DELETE,
    "audit": Action.AUDIT_READ,
    "study-access": Action.ADMINISTER,
    "parked-commands": Action.ADMINISTER,
    "orphans-sweep": Action.ADMINISTER,
    # Extended query tags change what is searchable; their errors name instances.
    "extended-query-tags": Action.ADMINISTER,
    "operations": Action.ADMINISTER,
}
# Public routes (health, probes, the viewer's static files) touch no patient data and are never
# audited; every other route has an action above.


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class AuditEvent(BaseModel):
    """One audited request, as the indexer stores it in ``audit_event`` (same field names)."""

    event_id: uuid.UUID
    occurred_at: datetime
    service: str
    action: Action
    method: str
    path: str
    query: str = ""
    user_subject: str
    user_name: str
    client_address: str
    study_uids: list[str] = []
    series_uids: list[str] = []
    instance_uids: list[str] = []
    instance_count: int | None = None  # instances returned / stored / deleted; matches of a search
    status: int
    outcome: Outcome
    request_id: str

    @staticmethod
    def new_id() -> uuid.UUID:
        return uuid.uuid4()


class AuditBatch(BaseModel):
    """What one JetStream message on ``dicom.audit.<service>`` carries."""

    events: list[AuditEvent]


@dataclass
class AuditRecord:
    """What a handler learned while answering: the UIDs it touched and how many instances.
    Dicts keep insertion order and drop repeats."""

    studies: dict[str, None] = field(default_factory=dict)
    series: dict[str, None] = field(default_factory=dict)
    instances: dict[str, None] = field(default_factory=dict)
    count: int | None = None
    # A stream that lasts as long as the client stays (Server-Sent Events) is recorded when
    # it opens: its end may never be seen behind a proxy, and the process may stop first.
    at_start: bool = False

    def touch(
        self, study: str | None = None, series: str | None = None, instance: str | None = None
    ) -> None:
        for uids, uid in ((self.studies, study), (self.series, series), (self.instances, instance)):
            if uid and len(uids) < MAX_UIDS:
                uids[clip(uid, 128)] = None

    def touch_all(self, uids: Iterable[tuple[str | None, str | None, str | None]]) -> None:
        for study, series, instance in uids:
            self.touch(study, series, instance)

    def add_count(self, n: int) -> None:
        self.count = (self.count or 0) + n

    def add_instances(self, uids: Sequence[tuple[str, str, str]]) -> None:
        """Instances returned, stored or deleted, as (study, series, SOP instance) UIDs."""
        self.touch_all(uids)
        self.add_count(len(uids))

    def event_fields(self, status: int) -> dict[str, Any]:
        """What an ``AuditEvent`` takes from the record and the (HTTP) status it ended with,
        the same for every service that audits."""
        return {
            "study_uids": list(self.studies),
            "series_uids": list(self.series),
            "instance_uids": list(self.instances),
            "instance_count": self.count,
            "status": status,
            "outcome": Outcome.SUCCESS if status < 400 else Outcome.FAILURE,
        }


def record_of(scope: Mapping[str, Any]) -> AuditRecord:
    """The request's record, or a throwaway one when the request is not audited."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, AuditRecord) else AuditRecord()


@dataclass(frozen=True)
class _Match:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    action: Action


class Classifier:
    """Which action a request on one service is, from the routes table (``None``: not audited).
    Routes are tried by priority, as the gateway does; pre-flights touch no data."""

    def __init__(self, service: str) -> None:
        routes = sorted(routes_for(service), key=lambda r: -r.priority)
        self._matches = [
            _Match(re.compile(r.path_regex), frozenset(r.methods) - {"OPTIONS"}, ACTIONS[r.name])
            for r in routes
            if r.name in ACTIONS
        ]

    def action(self, method: str, path: str) -> Action | None:
        for match in self._matches:
            if method in match.methods and match.pattern.match(path):
                return match.action
        return None


def clip(text: str, limit: int = _MAX_TEXT) -> str:
    """Free text (paths, queries, names, UIDs from a path) as stored: bounded, and storable.
    A request may carry what PostgreSQL's text refuses (a NUL from ``%00``, a lone surrogate
    from undecodable bytes); such characters are written as escapes instead, so one hostile
    request can never make its own record unstorable."""
    text = text[:limit]
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00") if "\x00" in text else text
