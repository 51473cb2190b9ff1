"""Operators' view of parked commands, on the indexer's own port (not routed by the gateway):
``GET /parked?limit=N`` lists them, oldest first; ``POST /parked/{command_id}/retry`` applies
one again with its original stream sequence, so a delete that came after it still wins."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dicomcommon.adapters import db
from dicomcommon.errors import NotFound
from dicomcommon.web import parameters
from indexer import offloaded, parking
from indexer.batch import apply_batch

_MAX_LIST = 1000


async def list_parked(request: Request) -> Response:
    raw = request.query_params.get("limit")
    limit = parameters.optional_integer("limit", raw, 100, low=1, high=_MAX_LIST)
    rows = await db.fetch(request.app.state.pool, parking.LIST, limit)
    return JSONResponse([{**dict(r), "parked_at": r["parked_at"].isoformat()} for r in rows])


async def retry_parked(request: Request) -> Response:
    """Apply the command again; it leaves the parked list only if it applies this time."""
    pool = request.app.state.pool
    command_id = request.path_params["command_id"]
    async with db.connection(pool) as conn:
        found = await parking.parked_command(conn, command_id)
    if found is None:
        raise NotFound(f"no parked command {command_id}")
    loaded = await offloaded.load(request.app.state.blobs, found)
    [outcome] = await apply_batch(pool, [loaded], unpark=True)
    if outcome.status.value != "failed":
        parking.UNPARKED.inc()
    return JSONResponse(outcome.model_dump(mode="json"))
