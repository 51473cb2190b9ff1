"""Extended query tags over HTTP, as Microsoft's DICOM server serves them (permission
``admin``): ``POST /dicom-web/extendedquerytags`` (202 and an operation reference),
``GET …/extendedquerytags[/{tagPath}]``, ``PATCH …/{tagPath}`` (``queryStatus``),
``DELETE …/{tagPath}``, ``GET …/{tagPath}/errors`` and ``GET /dicom-web/operations/{id}``.

They are indexer endpoints, reached through the gateway, like a study's access groups: the
indexer owns the schema, and one short transaction answers at once. Reindexing runs in the
background (``indexer.reindex``).
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dicomcommon.adapters import db
from dicomcommon.errors import Forbidden, NotFound
from dicomcommon.principal import Permission, principal_of
from dicomcommon.web import parameters
from dicomcommon.web.webapp import small_body
from indexer import querytags

MAX_BODY_BYTES = 256 << 10
MAX_PAGE = 200  # Microsoft's largest ``limit``
_OPERATION_ID = re.compile(r"^[0-9a-f]{32}$")
_TAGS = """
SELECT t.*, (SELECT count(*) FROM extended_tag_error e WHERE e.tag_key = t.tag_key) AS errors
FROM extended_query_tag t
"""
_ERRORS = """
SELECT e.* FROM extended_tag_error e JOIN extended_query_tag t USING (tag_key)
WHERE t.path = $1 ORDER BY e.created_at, e.sop_instance_uid LIMIT $2 OFFSET $3
"""
_OPERATION = "SELECT * FROM operation WHERE operation_id = $1"


async def add_tags(request: Request) -> Response:
    """Declare tags; 202 with the reindex operation that fills their values."""
    _require_admin(request)
    tags = querytags.parse_new_tags(await small_body(request, MAX_BODY_BYTES))
    async with db.connection(request.app.state.pool) as conn:
        operation_id = await querytags.add_tags(conn, tags)
    return JSONResponse(_operation_reference(request, operation_id), status_code=202)


async def list_tags(request: Request) -> Response:
    _require_admin(request)
    limit, offset = _page(request)
    rows = await db.fetch(
        request.app.state.pool, f"{_TAGS} ORDER BY t.path LIMIT $1 OFFSET $2", limit, offset
    )
    return JSONResponse([_tag(request, r) for r in rows])


async def get_tag(request: Request) -> Response:
    _require_admin(request)
    return JSONResponse(_tag(request, await _found_tag(request, _path(request))))


async def update_tag(request: Request) -> Response:
    """``PATCH`` ``{"queryStatus": "Enabled" | "Disabled"}``; the tag as it is now."""
    _require_admin(request)
    path = _path(request)
    body = await small_body(request, MAX_BODY_BYTES)
    async with db.connection(request.app.state.pool) as conn:
        await querytags.set_query_status(conn, path, body)
    return JSONResponse(_tag(request, await _found_tag(request, path)))


async def delete_tag(request: Request) -> Response:
    _require_admin(request)
    async with db.connection(request.app.state.pool) as conn:
        await querytags.delete_tag(conn, _path(request))
    return Response(status_code=204)


async def list_errors(request: Request) -> Response:
    """The instances whose value of the tag could not be indexed, and why."""
    _require_admin(request)
    path = _path(request)
    await _found_tag(request, path)
    limit, offset = _page(request)
    rows = await db.fetch(request.app.state.pool, _ERRORS, path, limit, offset)
    return JSONResponse(
        [
            {
                "studyInstanceUid": r["study_instance_uid"],
                "seriesInstanceUid": r["series_instance_uid"],
                "sopInstanceUid": r["sop_instance_uid"],
                "createdTime": r["created_at"].isoformat(),
                "errorMessage": r["error_message"],
            }
            for r in rows
        ]
    )


async def get_operation(request: Request) -> Response:
    """The operation; 202 while it runs, 200 once it has ended (Microsoft's codes)."""
    _require_admin(request)
    operation_id = str(request.path_params["operation_id"])
    row = None
    if _OPERATION_ID.match(operation_id):
        row = await db.fetchrow(request.app.state.pool, _OPERATION, operation_id)
    if row is None:
        raise NotFound(f"no operation {operation_id[:80]}")
    running = row["status"] in ("NotStarted", "Running")
    return JSONResponse(_operation(request, row), status_code=202 if running else 200)


def _require_admin(request: Request) -> None:
    """The routes table asks ``admin`` too; a handler never trusts that alone."""
    if not principal_of(request.scope).may(Permission.ADMIN):
        raise Forbidden("managing extended query tags needs the admin permission")


def _path(request: Request) -> str:
    return querytags.tag_path(str(request.path_params["tag_path"]))


async def _found_tag(request: Request, path: str) -> asyncpg.Record:
    row = await db.fetchrow(request.app.state.pool, f"{_TAGS} WHERE t.path = $1", path)
    if row is None:
        raise NotFound(f"no extended query tag {path}")
    return row


def _page(request: Request) -> tuple[int, int]:
    query = request.query_params
    limit = parameters.optional_integer("limit", query.get("limit"), 100, low=1, high=MAX_PAGE)
    return limit, parameters.optional_integer("offset", query.get("offset"), 0)


def _base(request: Request) -> str:
    base: str = request.app.state.settings.http.public_base_url
    return base.rstrip("/")


def _operation_reference(request: Request, operation_id: str) -> dict[str, str]:
    return {"id": operation_id, "href": f"{_base(request)}/operations/{operation_id}"}


def _tag(request: Request, row: asyncpg.Record) -> dict[str, Any]:
    tag: dict[str, Any] = {"path": row["path"], "vr": row["vr"]}
    if row["private_creator"] is not None:
        tag["privateCreator"] = row["private_creator"]
    tag |= {"level": row["level"], "status": row["status"], "queryStatus": row["query_status"]}
    if row["errors"]:
        href = f"{_base(request)}/extendedquerytags/{row['path']}/errors"
        tag["errors"] = {"count": row["errors"], "href": href}
    if row["status"] == "Adding" and row["operation_id"]:
        tag["operation"] = _operation_reference(request, row["operation_id"])
    return tag


def _operation(request: Request, row: asyncpg.Record) -> dict[str, Any]:
    total, done = row["total"], row["done"]
    percent = min(99, done * 100 // total) if total else 0
    if row["status"] == "Completed":
        percent = 100
    paths = list(row["tag_paths"])
    return {
        "operationId": row["operation_id"],
        "type": row["type"],
        "createdTime": row["created_at"].isoformat(),
        "lastUpdatedTime": row["updated_at"].isoformat(),
        "status": row["status"],
        "percentComplete": percent,
        "resourceIds": paths,
        "resources": [f"{_base(request)}/extendedquerytags/{p}" for p in paths],
        **({"errorMessage": row["error"]} if row["error"] else {}),
    }
