"""The change feed's query model (Microsoft-compatible ``/changefeed``, v1 and v2); its
statements are named in ``dicomcommon.schema.feed``.

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
from dicomcommon.schema import feed as reads
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


async def read_page(pool: asyncpg.Pool, query: FeedQuery) -> list[asyncpg.Record]:
    """The rows of one page, in sequence order."""
    args: list[Any] = [] if query.groups is None else [list(query.groups)]
    groups = query.groups is not None
    if query.start is None and query.end is None:
        text = reads.after_sequence(query.include_metadata, groups)
        return await db.fetch(pool, text, *args, query.after, query.skip, query.limit)
    text = reads.within_window(query.include_metadata, groups)
    return await db.fetch(pool, text, *args, query.start, query.end, query.skip, query.limit)


async def read_latest(
    pool: asyncpg.Pool, include_metadata: bool, groups: studyaccess.Groups | None = None
) -> asyncpg.Record | None:
    """The newest entry (the newest the caller may see, with ``groups``)."""
    text = reads.latest(include_metadata, groups is not None)
    return await db.fetchrow(pool, text, *([] if groups is None else [list(groups)]))


def entries(rows: Iterable[asyncpg.Record], replacement: bytes) -> list[dict[str, Any]]:
    """Rows as Microsoft-compatible entries, BulkDataURIs on ``replacement``."""
    return [changefeed.entry(row, replacement, row["state"]) for row in rows]
