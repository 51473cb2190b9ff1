"""Declaring extended query tags: the request's rules (Microsoft's DICOM server API and its
limits) and the catalog writes that add, change and remove tags.

A tag is given by ``path`` (``ggggeeee`` or a keyword; sequences are not supported), ``vr``
(required for private tags, else the dictionary's), ``privateCreator`` (private tags only) and
``level`` (Study, Series or Instance). Adding tags starts a reindex operation; the tags are
``Adding`` until it completes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from dicomcommon.dicom.dicomjson import lookup
from dicomcommon.errors import Conflict, DicomwebError, NotFound
from dicomcommon.search.columns import COLUMNS
from dicomcommon.search.extendedtags import LEVELS, SUPPORTED_VRS

MAX_TAGS = 128  # Microsoft's limit on extended query tags
MAX_CREATOR_LENGTH = 64  # a private creator is an LO


@dataclass(frozen=True, slots=True)
class NewTag:
    path: str
    vr: str
    private_creator: str | None
    level: str


def parse_new_tags(body: bytes) -> list[NewTag]:
    """The tags of a ``POST …/extendedquerytags`` body; a 400 naming the first bad entry."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DicomwebError("the body must be a JSON list of extended query tags") from None
    if not isinstance(document, list) or not document:
        raise DicomwebError("the body must be a non-empty JSON list of extended query tags")
    if len(document) > MAX_TAGS:
        raise DicomwebError(f"at most {MAX_TAGS} extended query tags may be added")
    tags = [_new_tag(entry) for entry in document]
    paths = [t.path for t in tags]
    if len(set(paths)) != len(paths):
        raise DicomwebError("the body names the same tag more than once")
    return tags


def _new_tag(entry: Any) -> NewTag:
    if not isinstance(entry, dict):
        raise DicomwebError("each extended query tag is a JSON object")
    fields = {str(k).lower(): v for k, v in entry.items()}
    path, vr, creator, level = (fields.get(k) for k in ("path", "vr", "privatecreator", "level"))
    if not isinstance(path, str) or not path:
        raise DicomwebError('an extended query tag needs a "path": ggggeeee or a keyword')
    if "." in path:
        raise DicomwebError(f"{path[:80]!r}: tags inside sequences are not supported")
    return NewTag(*_tag_and_vr(path, vr, creator), _level(path, level))


def _tag_and_vr(path: str, vr: Any, creator: Any) -> tuple[str, str, str | None]:
    attribute = lookup(path)
    if attribute is None:
        raise DicomwebError(f"{path[:80]!r} is not a DICOM tag (ggggeeee) or keyword")
    group, element = int(attribute.tag[:4], 16), int(attribute.tag[4:], 16)
    if group % 2 == 1:
        return attribute.tag, _private_vr(path, group, element, vr), _creator(path, creator)
    if group in (0x0002, 0xFFFE) or element == 0 or attribute.vr == "UN":
        raise DicomwebError(f"{path[:80]!r} is not an attribute of the standard's dictionary")
    if creator is not None:
        raise DicomwebError(f"{path[:80]!r}: privateCreator is only for private tags")
    if vr is not None and vr != attribute.vr:
        raise DicomwebError(f"{path[:80]!r} has VR {attribute.vr}, not {str(vr)[:8]!r}")
    if attribute.vr not in SUPPORTED_VRS:
        raise DicomwebError(f"{path[:80]!r}: VR {attribute.vr} cannot be an extended query tag")
    if attribute.keyword in COLUMNS:
        raise Conflict(f"{attribute.keyword} is searchable already: it needs no declaration")
    return attribute.tag, attribute.vr, None


def _private_vr(path: str, group: int, element: int, vr: Any) -> str:
    if group < 0x0009 or element < 0x1000:
        raise DicomwebError(
            f"{path[:80]!r}: a private tag is gggg,xxee with gggg odd (0009 or more) and xx "
            "its private block (10 to FF)"
        )
    if not isinstance(vr, str) or vr not in SUPPORTED_VRS:
        raise DicomwebError(
            f"{path[:80]!r}: a private tag needs a vr among {', '.join(sorted(SUPPORTED_VRS))}"
        )
    return vr


def _creator(path: str, creator: Any) -> str:
    if not isinstance(creator, str) or not 0 < len(creator) <= MAX_CREATOR_LENGTH:
        raise DicomwebError(
            f"{path[:80]!r}: a private tag needs its privateCreator (1 to "
            f"{MAX_CREATOR_LENGTH} characters)"
        )
    if "\\" in creator or not creator.isprintable():
        raise DicomwebError(f"{path[:80]!r}: a privateCreator has no backslash or control")
    return creator


def _level(path: str, level: Any) -> str:
    names = {name.lower(): name for name in LEVELS}
    if not isinstance(level, str) or level.lower() not in names:
        raise DicomwebError(f'{path[:80]!r}: "level" is one of {", ".join(LEVELS)}')
    return names[level.lower()]


_LOCK = "LOCK TABLE extended_query_tag IN SHARE ROW EXCLUSIVE MODE"
_INSERT_TAG = """
INSERT INTO extended_query_tag (path, vr, private_creator, level, status, query_status,
    operation_id)
VALUES ($1, $2, $3, $4, 'Adding', 'Enabled', $5) RETURNING tag_key
"""
# The snapshot names the transactions running now: the reindex waits for them to end.
_INSERT_OPERATION = """
INSERT INTO operation (operation_id, type, status, tag_keys, tag_paths, started_after)
VALUES ($1, 'Reindex', 'NotStarted', $2::int[], $3::text[], pg_current_snapshot())
"""


async def add_tags(conn: asyncpg.Connection, tags: list[NewTag]) -> str:
    """Add ``tags`` and their reindex operation in one transaction; its id."""
    async with conn.transaction():
        await conn.execute(_LOCK)  # adds one at a time: the limit and conflicts hold
        existing = {r[0] for r in await conn.fetch("SELECT path FROM extended_query_tag")}
        taken = [t.path for t in tags if t.path in existing]
        if taken:
            raise Conflict(f"already extended query tags: {', '.join(taken)}")
        if len(existing) + len(tags) > MAX_TAGS:
            raise DicomwebError(f"at most {MAX_TAGS} extended query tags may exist")
        operation_id = uuid.uuid4().hex
        keys = [
            await conn.fetchval(_INSERT_TAG, t.path, t.vr, t.private_creator, t.level, operation_id)
            for t in tags
        ]
        await conn.execute(_INSERT_OPERATION, operation_id, keys, [t.path for t in tags])
    return operation_id


def tag_path(text: str) -> str:
    """The ``ggggeeee`` of a ``{tagPath}`` (tag or keyword); 400 when it is neither."""
    attribute = lookup(text)
    if attribute is None or "." in text:
        raise DicomwebError(f"{text[:80]!r} is not a DICOM tag (ggggeeee) or keyword")
    return attribute.tag


_SET_QUERY_STATUS = """
UPDATE extended_query_tag SET query_status = $2 WHERE path = $1 RETURNING path
"""


async def set_query_status(conn: asyncpg.Connection, path: str, body: bytes) -> None:
    """``PATCH`` with ``{"queryStatus": "Enabled" | "Disabled"}``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    fields = {str(k).lower(): v for k, v in document.items()} if isinstance(document, dict) else {}
    status = {"enabled": "Enabled", "disabled": "Disabled"}.get(
        str(fields.get("querystatus", "")).lower()
    )
    if status is None or len(fields) != 1:
        raise DicomwebError('the body must be {"queryStatus": "Enabled"} or "Disabled"')
    if await conn.fetchval(_SET_QUERY_STATUS, path, status) is None:
        raise NotFound(f"no extended query tag {path}")


async def delete_tag(conn: asyncpg.Connection, path: str) -> None:
    """Remove the tag, its values and its errors (they cascade) in one transaction."""
    found = await conn.fetchval("DELETE FROM extended_query_tag WHERE path = $1 RETURNING 1", path)
    if found is None:
        raise NotFound(f"no extended query tag {path}")
