"""``GET /dicom-web/audit``: the audit trail for privacy officers and operators (``admin``).

Filters: ``user`` (subject or name), ``study`` (a Study Instance UID the event touched),
``action`` (``search``, ``retrieve``, ``store``, ``delete``, ``feed-read``, ``audit-read``),
``from`` (inclusive) / ``to`` (exclusive) as ISO 8601 (no offset: UTC); ``limit`` (1-1000,
default 100) and ``offset`` page through the matches, newest first. The answer is a JSON array
of events with the fields of ``dicomcommon.web.audit.AuditEvent``. Reading it is itself audited.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dicomcommon.adapters import db
from dicomcommon.errors import InvalidQuery
from dicomcommon.schema import audit as reads
from dicomcommon.web import audit, parameters
from qido.context import QidoContext

MAX_LIMIT, DEFAULT_LIMIT = 1000, 100


async def read_audit(request: Request) -> Response:
    ctx: QidoContext = request.app.state.ctx
    text, args = audit_query(request.query_params.multi_items())
    rows = await db.fetch(ctx.pool, text, *args)
    events = [_event(row) for row in rows]
    audit.record_of(request.scope).add_count(len(events))
    return Response(orjson.dumps(events), media_type="application/json")


def audit_query(params: list[tuple[str, str]]) -> tuple[str, list[Any]]:
    """The parameterized statement for the filters and page in ``params`` (400 when bad)."""
    p = parameters.by_lowered_name(params)
    conditions: list[str] = []
    args: list[Any] = []

    def where(condition: str, value: Any) -> None:
        args.append(value)
        conditions.append(condition.replace("?", f"${len(args)}"))

    if p.get("user"):
        where(reads.FILTERS["user"], p["user"])
    if p.get("study"):
        where(reads.FILTERS["study"], p["study"])
    if p.get("action"):
        if p["action"] not in set(audit.Action):
            raise InvalidQuery(f"action must be one of {', '.join(audit.Action)}")
        where(reads.FILTERS["action"], p["action"])
    if (start := parameters.instant("from", p.get("from"))) is not None:
        where(reads.FILTERS["from"], start)
    if (end := parameters.instant("to", p.get("to"))) is not None:
        where(reads.FILTERS["to"], end)
    limit = parameters.optional_integer(
        "limit", p.get("limit"), DEFAULT_LIMIT, low=1, high=MAX_LIMIT
    )
    offset = parameters.optional_integer("offset", p.get("offset"), 0, high=2**31 - 1)
    return reads.page(conditions, limit, offset), args


def _event(row: Any) -> dict[str, Any]:
    event = dict(row)
    event["event_id"] = str(event["event_id"])
    return event
