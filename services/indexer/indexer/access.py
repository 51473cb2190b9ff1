"""Admins read and change a study's access groups: ``GET`` / ``PUT
/dicom-web/studies/{study}/access`` with ``{"groups": [...]}`` (permission ``admin``).

The change is an indexer HTTP endpoint, reached through the gateway, rather than a command
on the ingest stream: it changes no instance, so it needs no place in the stream's order
(the study row's lock already orders it against the batches that store into or delete from
the study), and one short transaction answers at once, so the caller reads its own write.
It writes no change-feed entry: the feed records instances' creates, updates and deletes, as
Microsoft's does; who may see a study is not an instance change (feed readers see the
study's entries by its current groups, see ``qido.changefeed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dicomcommon.adapters import db
from dicomcommon.dicom.uids import require_uid
from dicomcommon.errors import DicomwebError, Forbidden, NotFound
from dicomcommon.principal import Permission, principal_of
from dicomcommon.web.webapp import small_body

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY_BYTES = 64 << 10
MAX_GROUPS = 256
MAX_GROUP_LENGTH = 128
_READ = "SELECT access_groups FROM study WHERE study_instance_uid = $1"
_CHANGE = """
UPDATE study SET access_groups = $2::text[], updated_at = now()
WHERE study_instance_uid = $1 RETURNING access_groups
"""


async def read_access(request: Request) -> Response:
    """``GET /dicom-web/studies/{study}/access``: the study's groups; 404 when no study."""
    study = _admin_study(request)
    row = await db.fetchrow(request.app.state.pool, _READ, study)
    if row is None:
        raise NotFound(f"no study {study}")
    return _answer(study, row["access_groups"])


async def change_access(request: Request) -> Response:
    """``PUT /dicom-web/studies/{study}/access``: replace the study's groups."""
    study = _admin_study(request)
    groups = parse_groups(await small_body(request, MAX_BODY_BYTES, "an access document"))
    row = await db.fetchrow(request.app.state.pool, _CHANGE, study, groups)
    if row is None:
        raise NotFound(f"no study {study}")
    return _answer(study, row["access_groups"])


def _admin_study(request: Request) -> str:
    """The study of the path, for an ``admin`` caller only (the routes table says so too)."""
    if not principal_of(request.scope).may(Permission.ADMIN):
        raise Forbidden("changing study access needs the admin permission")
    return require_uid(str(request.path_params["study"]), "StudyInstanceUID")


def _answer(study: str, groups: list[str]) -> Response:
    return JSONResponse({"studyInstanceUid": study, "groups": groups})


def parse_groups(body: bytes) -> list[str]:
    """``{"groups": ["a", "b"]}`` → the distinct groups, sorted; anything else is a 400."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DicomwebError('the body must be JSON: {"groups": ["group", ...]}') from None
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise DicomwebError(f'"groups" must be a list of at most {MAX_GROUPS} group names')
    for group in groups:
        if not isinstance(group, str) or not 0 < len(group) <= MAX_GROUP_LENGTH:
            raise DicomwebError(f"a group name is text of 1 to {MAX_GROUP_LENGTH} characters")
        if not group.isprintable():
            raise DicomwebError("a group name holds no control characters")
    return sorted(set(groups))
