"""The change feed's query model and SQL (Microsoft-compatible ``/changefeed``, v1 and v2).

v1 pages by sequence: ``offset`` is the last sequence the client has seen (exclusive), so with
our gap-free sequences a page is never empty while later entries exist. v2 selects a time
window ``[startTime, endTime)`` and ``offset`` skips rows of it. Both return rows in sequence
order. ``state`` is derived at read time from the instance row: ``Current`` when it still holds
this entry's version, ``Deleted`` when there is none, ``Replaced`` otherwise.

With study groups (``studyaccess``), a caller reads only the entries of its groups' studies:
a study's current groups while it exists, else the groups it had when the entry was written
(so a group still sees the deletes of its studies). Group changes are not feed entries: the
feed records instances' creates, updates and deletes, as Microsoft's does, and a change of
who may see a study changes no instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dicomcommon import studyaccess
from dicomcommon.adapters import changefeed, db
from dicomcommon.errors import InvalidQuery
from dicomcommon.web import parameters

V1_MAX_LIMIT, V1_DEFAULT_LIMIT = 100, 10
V2_MAX_LIMIT, V2_DEFAULT_LIMIT = 200, 100


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """One page of the feed: after a sequence (v1) or within a time window (v2)."""

    limit: int
    include_metadata: bool = True
    after: int = 0
    skip: int = 0
    start: datetime | None = None
    end: datetime | None = None
    groups: studyaccess.Groups | None = None  # only the studies of these groups (None: all)


def parse_v1(params: Iterable[tuple[str, str]]) -> FeedQuery:
    """``?offset=&limit=&includemetadata=`` (names case-insensitive, as ASP.NET binds them)."""
    p = parameters.by_lowered_name(params)
    return FeedQuery(
        limit=_integer(p, "limit", V1_DEFAULT_LIMIT, 1, V1_MAX_LIMIT),
        include_metadata=_boolean(p, "includemetadata"),
        after=_integer(p, "offset", 0, 0, parameters.MAX_BIGINT),
    )


def parse_v2(params: Iterable[tuple[str, str]]) -> FeedQuery:
    """``?startTime=&endTime=&offset=&limit=&includeMetadata=``; ``startTime`` inclusive,
    ``endTime`` exclusive, either open when absent."""
    p = parameters.by_lowered_name(params)
    start = parameters.instant("startTime", p.get("starttime"))
    end = parameters.instant("endTime", p.get("endtime"))
    if start is not None and end is not None and end < start:
        raise InvalidQuery("endTime must not be before startTime")
    return FeedQuery(
        limit=_integer(p, "limit", V2_DEFAULT_LIMIT, 1, V2_MAX_LIMIT),
        include_metadata=_boolean(p, "includemetadata"),
        skip=_integer(p, "offset", 0, 0, parameters.MAX_BIGINT),
        start=start,
        end=end,
    )


def parse_latest(params: Iterable[tuple[str, str]]) -> bool:
    """``/changefeed/latest?includemetadata=``: whether to include the metadata."""
    return _boolean(parameters.by_lowered_name(params), "includemetadata")


def _boolean(p: dict[str, str], name: str) -> bool:
    return parameters.boolean(name, p.get(name), True)


def _integer(p: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    return parameters.optional_integer(name, p.get(name), default, low=low, high=high)


_STATE = """CASE WHEN i.sop_instance_uid IS NULL THEN 'Deleted'
    WHEN i.version = f.version THEN 'Current' ELSE 'Replaced' END AS state"""
_FROM = f"FROM change_feed f {changefeed.INSTANCE_JOIN}"


def _select(include_metadata: bool) -> str:
    metadata = f", {changefeed.METADATA_COLUMN}" if include_metadata else ""
    return f"SELECT {changefeed.COLUMNS}, {_STATE}{metadata} {_FROM}"


# The study's groups while it exists, else those its entry recorded; probes the study's key.
_VISIBLE = studyaccess.shares_group_sql(
    "coalesce((SELECT s.access_groups FROM study s"
    " WHERE s.study_instance_uid = f.study_instance_uid), f.access_groups)",
    "$1",
)


async def read_page(pool: asyncpg.Pool, query: FeedQuery) -> list[asyncpg.Record]:
    """The rows of one page, in sequence order."""
    select = _select(query.include_metadata)
    args: list[Any] = [] if query.groups is None else [list(query.groups)]
    visible = f"{_VISIBLE} AND " if args else ""
    n = len(args)
    if query.start is None and query.end is None:
        text = (
            f"{select} WHERE {visible}f.sequence > ${n + 1}"
            f" ORDER BY f.sequence OFFSET ${n + 2} LIMIT ${n + 3}"
        )
        return await db.fetch(pool, text, *args, query.after, query.skip, query.limit)
    text = (
        f"{select} WHERE {visible}(${n + 1}::timestamptz IS NULL OR f.timestamp >= ${n + 1})"
        f" AND (${n + 2}::timestamptz IS NULL OR f.timestamp < ${n + 2})"
        f" ORDER BY f.sequence OFFSET ${n + 3} LIMIT ${n + 4}"
    )
    return await db.fetch(pool, text, *args, query.start, query.end, query.skip, query.limit)


async def read_latest(
    pool: asyncpg.Pool, include_metadata: bool, groups: studyaccess.Groups | None = None
) -> asyncpg.Record | None:
    """The newest entry (the newest the caller may see, with ``groups``)."""
    if groups is None:
        return await db.fetchrow(pool, f"{_select(include_metadata)} {_LATEST}")
    text = f"{_select(include_metadata)} WHERE {_VISIBLE} {_LATEST}"
    return await db.fetchrow(pool, text, list(groups))


_LATEST = "ORDER BY f.sequence DESC LIMIT 1"


def entries(rows: Iterable[asyncpg.Record], replacement: bytes) -> list[dict[str, Any]]:
    """Rows as Microsoft-compatible entries, BulkDataURIs on ``replacement``."""
    return [changefeed.entry(row, replacement, row["state"]) for row in rows]
