"""Turn a ``query.Query`` into one parameterized SQL statement, and its rows into DICOM JSON:
QIDO-RS and C-FIND search the index through it.

Common keys match typed, indexed columns of the index schema (``dicomcommon.schema``); every other
key, and sequence matching, matches the stored DICOM JSON of its level (``study.attributes``,
``series.attributes``, ``instance.metadata``). Values only ever travel as bind parameters.
One statement answers one request: joins bring the higher levels' attributes of relational
queries (PS3.18 §10.6.1.2) and ``limit + 1`` rows tell whether the result was cut.

This module assembles the statement; the conditions come from ``matching`` (with
``timezones`` for dates and times, ``terms`` for the building blocks), the answer's shape
from ``answer``, the columns from ``columns`` and the order from ``order``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicomcommon import studyaccess
from dicomcommon.dicom.dicomjson import (
    Level,
)
from dicomcommon.search import order as ordering

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).
from dicomcommon.search.answer import documents, match_json, returned_levels
from dicomcommon.search.columns import ALIAS as _ALIAS
from dicomcommon.search.columns import TABLE as _TABLE
from dicomcommon.search.columns import UID as _UID
from dicomcommon.search.matching import (
    empty_condition,
    filter_condition,
    filter_level,
    unindexed,
)
from dicomcommon.search.query import (
    Query,
)
from dicomcommon.search.terms import Parameters


@dataclass(frozen=True, slots=True)
class Search:
    """One query, as two statements over the same bind values: ``text`` gives each match as
    DICOM JSON text, one row each; ``json_text`` the whole answer as one JSON array, in UTF-8
    bytes ready to send (no decoding into a str and encoding back). Both also give each match's
    UID and its study's (``uids`` / ``study_uids`` of the answer), for the audit trail.

    The answer is assembled by PostgreSQL, so the service neither decodes nor re-encodes
    documents on the hot path; ``limit + 1`` rows tell whether the result was cut.
    """

    text: str
    json_text: str
    args: tuple[Any, ...]
    levels: frozenset[Level]  # levels whose attributes each match returns
    limit: int


def build_search(query: Query, base_url: str, groups: studyaccess.Groups | None = None) -> Search:
    """The statements answering ``query`` (PS3.18 §10.6, PS3.4 C.2.2.2), among the studies of
    ``groups`` when given (``studyaccess``; ``None`` adds nothing to the statement).

    An inner query finds the page (matching, order, ``limit`` / ``offset``) from the indexes
    alone; only the rows of that page are then joined and projected, each stored document
    read once: skipped rows and unused tags cost nothing. Each page row carries its position,
    which orders the answer.
    """
    p = Parameters()
    base = query.level
    levels = returned_levels(query)
    terms = ordering.sort_terms(query)
    source = _matching(query, groups, p, {t.level for t in terms})
    uid = f"{_ALIAS[base]}.{_UID[base]}"
    one_more = p(query.limit + 1)
    # Instance pages read the heap anyway (bitmap scans), so they carry each row's TID and the
    # page joins back by it: a thousand index descents fewer for a 1,000-instance series. The
    # join runs in the page's snapshot, so a TID names the very row version the page chose.
    # Study and series pages stay index-only, so skipping ``offset`` rows reads no heap.
    by_tid = base == Level.INSTANCE
    tid = f", {_ALIAS[base]}.ctid AS tid" if by_tid else ""
    order = ", ".join(term.sql() for term in terms)
    page = (
        f"SELECT ordered.*, row_number() OVER () AS pos FROM (SELECT {uid} AS uid{tid} "
        f"{source} ORDER BY {order} LIMIT {one_more} OFFSET {p(query.offset)}) ordered"
    )
    back = f"{_ALIAS[base]}.ctid = page.tid" if by_tid else f"{uid} = page.uid"
    rows = (
        f"SELECT page.pos, page.uid, {_ALIAS[base]}.study_instance_uid AS study_uid, "
        f"{match_json(query, levels, base_url, p)} AS match FROM ({page}) page "
        f"JOIN {_TABLE[base]} {_ALIAS[base]} ON {back}{_joins(base, levels)}"
        f"{documents(query, levels)}"
    )
    text = f"{rows} ORDER BY page.pos"
    json_text = (
        f"SELECT count(*) AS found, convert_to('[' || string_agg(m.match::text, ',' "
        f"ORDER BY m.pos) FILTER (WHERE m.pos < {one_more}) || ']', 'UTF8') AS body, "
        f"array_agg(m.uid ORDER BY m.pos) FILTER (WHERE m.pos < {one_more}) AS uids, "
        f"array_agg(m.study_uid ORDER BY m.pos) FILTER (WHERE m.pos < {one_more}) AS study_uids "
        f"FROM ({rows}) m"
    )
    return Search(text, json_text, tuple(p.values), frozenset(levels), query.limit)


@dataclass(frozen=True, slots=True)
class Count:
    """How many entities match a query, counted up to ``most + 1``: a count above ``most``
    means "more than ``most``", and no count scans further."""

    text: str
    args: tuple[Any, ...]
    most: int


def build_count(query: Query, most: int, groups: studyaccess.Groups | None = None) -> Count:
    """The statement counting the matches of ``query`` (its matching keys, resource path and
    ``groups``; never its page), reading at most ``most + 1`` of them."""
    p = Parameters()
    source = _matching(query, groups, p, set())
    text = f"SELECT count(*) AS found FROM (SELECT 1 {source} LIMIT {p(most + 1)}) matched"
    return Count(text, tuple(p.values), most)


def _matching(
    query: Query, groups: studyaccess.Groups | None, p: Parameters, ordered: set[Level]
) -> str:
    """``FROM … WHERE …`` of the entities ``query`` matches, joined to the higher levels its
    keys, and the ``ordered`` levels, read.

    An instance query that matches the instances' stored documents reads every candidate's
    document whatever the plan, so the higher levels' conditions stay with their tables, in a
    subquery the planner cannot flatten (``OFFSET 0``): it joins them whole (a hash join, or
    an index scan of the candidates from the matching studies), never by probing the higher
    level once per candidate. Flattened, the documents' cost (migration 0018) dwarfs the
    join's, and the planner took the join of lowest startup cost, one index lookup into
    ``study`` per instance (18,511 for a count over 20,000 instances)."""
    base = query.level
    conditions = _scope_conditions(query, p)
    fenced: dict[Level, list[str]] | None = {} if _reads_own_documents(query) else None
    if groups is not None and fenced is not None:
        fenced[Level.STUDY] = [studyaccess.shares_group_sql("st.access_groups", p(list(groups)))]
    elif groups is not None:
        conditions.append(_access_condition(base, groups, p))
    joined = {base, *ordered}
    for f in query.filters:
        level, condition = filter_condition(f, base, query.timezone_offset, p)
        joined.add(level)
        if condition and query.empty_value_matching and len(f.path) == 1:
            condition = f"({condition} OR {empty_condition(f.attribute, level, p)})"
        if condition and fenced is not None and level != base:
            fenced.setdefault(level, []).append(condition)
        elif condition:
            conditions.append(condition)
    joined |= set(fenced or ())
    where = " AND ".join(conditions) or "true"
    return f"FROM {_TABLE[base]} {_ALIAS[base]}{_joins(base, joined, fenced)} WHERE {where}"


def _reads_own_documents(query: Query) -> bool:
    """Whether an instance query matches its instances' stored documents, which no index
    holds (a series' or a study's are found through GIN indexes, planned as before)."""
    return query.level == Level.INSTANCE and any(
        filter_level(f, query.level) == query.level for f in unindexed(query)
    )


def _scope_conditions(query: Query, p: Parameters) -> list[str]:
    base = _ALIAS[query.level]
    conditions = []
    if query.study_instance_uid is not None:
        conditions.append(f"{base}.study_instance_uid = {p(query.study_instance_uid)}")
    if query.series_instance_uid is not None:
        conditions.append(f"{base}.series_instance_uid = {p(query.series_instance_uid)}")
    return conditions


def _access_condition(base: Level, groups: studyaccess.Groups, p: Parameters) -> str:
    """Only the studies of ``groups``, inside the page query, so ``limit``, ``offset`` and the
    "more results" warning count visible matches only. Studies read their own indexed column;
    series and instances probe their study row."""
    if base == Level.STUDY:
        return studyaccess.shares_group_sql("st.access_groups", p(list(groups)))
    return studyaccess.study_condition(f"{_ALIAS[base]}.study_instance_uid", p(list(groups)))


def _joins(base: Level, joined: set[Level], fenced: dict[Level, list[str]] | None = None) -> str:
    """Joins from the base table to the higher levels it needs, by their UIDs; with
    ``fenced``, each higher level is a subquery holding its own conditions (``_matching``)."""
    clause, b = "", _ALIAS[base]
    if base == Level.INSTANCE and Level.SERIES in joined:
        source = _joined_source(Level.SERIES, fenced)
        clause += f" JOIN {source} se ON se.series_instance_uid = {b}.series_instance_uid"
    if base > Level.STUDY and Level.STUDY in joined:
        source = _joined_source(Level.STUDY, fenced)
        clause += f" JOIN {source} st ON st.study_instance_uid = {b}.study_instance_uid"
    return clause


def _joined_source(level: Level, fenced: dict[Level, list[str]] | None) -> str:
    """A higher level's table, or, fenced, the subquery of its rows that match."""
    table = _TABLE[level]
    if fenced is None:
        return table
    where = " AND ".join(fenced.get(level, ())) or "true"
    return f"(SELECT * FROM {table} {_ALIAS[level]} WHERE {where} OFFSET 0)"
