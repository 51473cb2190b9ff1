"""Turn a ``query.Query`` into one parameterized SQL statement, and its rows into DICOM JSON:
QIDO-RS and C-FIND search the index through it.

Common keys match typed, indexed columns of the index schema (indexer migrations); every other
key, and sequence matching, matches the stored DICOM JSON of its level (``study.attributes``,
``series.attributes``, ``instance.metadata``). Values only ever travel as bind parameters.
One statement answers one request: joins bring the higher levels' attributes of relational
queries (PS3.18 §10.6.1.2) and ``limit + 1`` rows tell whether the result was cut.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

import orjson

from dicomcommon import extendedtags, moments, parameters, studyaccess
from dicomcommon import searchorder as ordering
from dicomcommon.dicomjson import (
    INSTANCE_SUMMARY_KEYWORDS,
    Attribute,
    DicomJson,
    Level,
    attribute,
)
from dicomcommon.query import (
    Filter,
    FuzzyName,
    Match,
    Query,
    Range,
    SingleValue,
    Universal,
    ValueList,
    Wildcard,
)
from dicomcommon.searchschema import ALIAS as _ALIAS
from dicomcommon.searchschema import COLUMNS as _COLUMNS
from dicomcommon.searchschema import DOC as _DOC
from dicomcommon.searchschema import SHARED as _SHARED
from dicomcommon.searchschema import TABLE as _TABLE
from dicomcommon.searchschema import UID as _UID
from dicomcommon.searchschema import Kind

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).
_SUMMARIZED = frozenset({*INSTANCE_SUMMARY_KEYWORDS, "SOPInstanceUID"})
# Tags every match gets from index columns (``_match``), never from a stored document.
_COMPUTED_TAGS = frozenset(
    {"0020000D", "0020000E", "00080018", "00080061", "00080062", "00201206", "00201208",
     "00201209", "00080056", "00081190"}
)  # fmt: skip

# Attributes every match returns, PS3.18 Tables 10.6.3-3, -4 and -5 (computed ones are added
# from columns by ``_match``).
_REQUIRED = {
    Level.STUDY: ("SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber",
                  "ReferringPhysicianName", "TimezoneOffsetFromUTC", "PatientName", "PatientID",
                  "PatientBirthDate", "PatientSex", "StudyID", "StudyDescription"),
    Level.SERIES: ("SpecificCharacterSet", "Modality", "TimezoneOffsetFromUTC",
                   "SeriesDescription", "SeriesNumber", "PerformedProcedureStepStartDate",
                   "PerformedProcedureStepStartTime", "RequestAttributesSequence"),
    Level.INSTANCE: INSTANCE_SUMMARY_KEYWORDS,
}  # fmt: skip
_REQUIRED_TAGS = {level: tuple(attribute(k).tag for k in keys) for level, keys in _REQUIRED.items()}


class _Parameters:
    """Collects bind values and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


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
    p = _Parameters()
    base = query.level
    levels = _returned_levels(query)
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
        f"{_match(query, levels, base_url, p)} AS match FROM ({page}) page "
        f"JOIN {_TABLE[base]} {_ALIAS[base]} ON {back}{_joins(base, levels)}"
        f"{_documents(query, levels)}"
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
    p = _Parameters()
    source = _matching(query, groups, p, set())
    text = f"SELECT count(*) AS found FROM (SELECT 1 {source} LIMIT {p(most + 1)}) matched"
    return Count(text, tuple(p.values), most)


def _matching(
    query: Query, groups: studyaccess.Groups | None, p: _Parameters, ordered: set[Level]
) -> str:
    """``FROM … WHERE …`` of the entities ``query`` matches, joined to the higher levels its
    keys, and the ``ordered`` levels, read."""
    base = query.level
    conditions = _scope_conditions(query, p)
    if groups is not None:
        conditions.append(_access_condition(base, groups, p))
    joined = {base, *ordered}
    for f in query.filters:
        level, condition = _filter_condition(f, base, query.timezone_offset, p)
        joined.add(level)
        if condition and query.empty_value_matching and len(f.path) == 1:
            condition = f"({condition} OR {_empty_condition(f.attribute, level, p)})"
        if condition:
            conditions.append(condition)
    where = " AND ".join(conditions) or "true"
    return f"FROM {_TABLE[base]} {_ALIAS[base]}{_joins(base, joined)} WHERE {where}"


def _match(query: Query, levels: set[Level], base_url: str, p: _Parameters) -> str:
    """One match as JSON text: the attributes computed from index columns (PS3.18 Tables
    10.6.3-3 to -5) and the RetrieveURL, then the stored attributes of each returned level.

    Everything is concatenated text, not jsonb: building jsonb objects, or turning jsonb into
    text, per row costs more than the whole rest of a long instance list. UIDs are validated
    at store (digits and dots) and the base URL is escaped once, so neither needs escaping per
    row. An instance list's own attributes are ``instance.summary``, text already. Stored
    documents never carry a computed tag (``_projection`` leaves them out), so no key appears
    twice.
    """
    b = _ALIAS[query.level]
    computed = [_uid_element("0020000D", f"{b}.study_instance_uid")]
    url = f"{p(_json_escaped(base_url))}::text || '/studies/' || {b}.study_instance_uid"
    if Level.STUDY in levels:
        computed += [
            _array_element("00080061", "CS", "st.modalities_in_study"),
            _array_element("00080062", "UI", "st.sop_classes_in_study"),
            _number_element("00201206", "st.number_of_series"),
            _number_element("00201208", "st.number_of_instances"),
        ]
    if query.level >= Level.SERIES:
        url += f" || '/series/' || {b}.series_instance_uid"
        computed.append(_uid_element("0020000E", f"{b}.series_instance_uid"))
    if Level.SERIES in levels:
        computed.append(_number_element("00201209", "se.number_of_instances"))
    if query.level == Level.INSTANCE:
        url += " || '/instances/' || i.sop_instance_uid"
        computed.append(_uid_element("00080018", "i.sop_instance_uid"))
    if query.level != Level.SERIES:
        computed.append("""'"00080056": {"vr": "CS", "Value": ["ONLINE"]}'""")
    computed.append(f"""'"00081190": {{"vr": "UR", "Value": ["' || {url} || '"]}}'""")
    separated = " || ', ' || ".join(computed)
    documents = sorted(levels)
    if Level.INSTANCE in levels and not query.include_all and _summarized(query, Level.INSTANCE):
        separated += " || coalesce(', ' || nullif(i.summary, ''), '')"
        documents.remove(Level.INSTANCE)
    if not documents:
        return f"('{{' || {separated} || '}}')"
    stored = " || ".join(f"coalesce({_projection(query, level, p)}, '{{}}')" for level in documents)
    rest = f"coalesce(', ' || nullif(substr(({stored})::text, 2), '}}'), '}}')"
    return f"('{{' || {separated} || {rest})"


def _json_escaped(text: str) -> str:
    """``text`` as it goes between the quotes of a JSON string."""
    return orjson.dumps(text).decode()[1:-1]


def _uid_element(tag: str, column: str) -> str:
    """A UI attribute from a UID column: never NULL, only digits and dots."""
    return f"""'"{tag}": {{"vr": "UI", "Value": ["' || {column} || '"]}}'"""


def _number_element(tag: str, column: str) -> str:
    return f"""'"{tag}": {{"vr": "IS", "Value": [' || coalesce({column}::text, 'null') || ']}}'"""


def _array_element(tag: str, vr: str, column: str) -> str:
    """A multi-valued attribute from an array column; no ``Value`` when it is empty."""
    head = f'"{tag}": {{"vr": "{vr}"'
    return (
        f"""'{head}' || CASE WHEN cardinality({column}) > 0 """
        f"""THEN ', "Value": ' || to_json({column})::text ELSE '' END || '}}'"""
    )


def _returned_levels(query: Query) -> set[Level]:
    """The query level, plus higher levels the resource path leaves open (PS3.18 §10.6.3.3)."""
    levels = {query.level}
    if query.level > Level.STUDY and query.study_instance_uid is None:
        levels.add(Level.STUDY)
    if query.level > Level.SERIES and query.series_instance_uid is None:
        levels.add(Level.SERIES)
    if not query.include_all:
        levels.update(a.level for a in _wanted(query) if a.keyword not in _SHARED)
    return {level for level in levels if level <= query.level}


def _scope_conditions(query: Query, p: _Parameters) -> list[str]:
    base = _ALIAS[query.level]
    conditions = []
    if query.study_instance_uid is not None:
        conditions.append(f"{base}.study_instance_uid = {p(query.study_instance_uid)}")
    if query.series_instance_uid is not None:
        conditions.append(f"{base}.series_instance_uid = {p(query.series_instance_uid)}")
    return conditions


def _access_condition(base: Level, groups: studyaccess.Groups, p: _Parameters) -> str:
    """Only the studies of ``groups``, inside the page query, so ``limit``, ``offset`` and the
    "more results" warning count visible matches only. Studies read their own indexed column;
    series and instances probe their study row."""
    if base == Level.STUDY:
        return studyaccess.shares_group_sql("st.access_groups", p(list(groups)))
    return studyaccess.study_condition(f"{_ALIAS[base]}.study_instance_uid", p(list(groups)))


def _joins(base: Level, joined: set[Level]) -> str:
    """Joins from the base table to the higher levels it needs, by their UIDs."""
    clause, b = "", _ALIAS[base]
    if base == Level.INSTANCE and Level.SERIES in joined:
        clause += f" JOIN series se ON se.series_instance_uid = {b}.series_instance_uid"
    if base > Level.STUDY and Level.STUDY in joined:
        clause += f" JOIN study st ON st.study_instance_uid = {b}.study_instance_uid"
    return clause


def _documents(query: Query, levels: set[Level]) -> str:
    """Each projected level's stored DICOM JSON, read (detoasted) once per row: picking
    several tags from the column itself would read it again for every tag."""
    if query.include_all:
        return ""
    return "".join(
        f" CROSS JOIN LATERAL (SELECT {_DOC[level]} || '{{}}'::jsonb AS doc OFFSET 0) "
        f"{_ALIAS[level]}_doc"
        for level in sorted(levels)
        if not _summarized(query, level)
    )


def _summarized(query: Query, level: Level) -> bool:
    """Whether an instance's ``summary`` holds every tag the match returns."""
    return level == Level.INSTANCE and all(
        a.keyword in _SUMMARIZED
        for a in _wanted(query)
        if a.level == Level.INSTANCE and a.keyword not in _SHARED
    )


def _wanted(query: Query) -> list[Attribute]:
    """Attributes the request names, whose values each match returns (PS3.18 §10.6.3)."""
    return [*query.includefields, *(f.path[0] for f in query.filters)]


def _projection(query: Query, level: Level, p: _Parameters) -> str:
    """The level's stored DICOM JSON, cut down to the returned tags unless ``includefield=all``,
    without the tags ``_match`` computes.

    Picking keys in SQL keeps large instance metadata out of the wire and of the decoder.
    """
    if query.include_all:
        return f"({_DOC[level]} - {p(list(_COMPUTED_TAGS))}::text[])"
    tags = [*_REQUIRED_TAGS[level], *(a.tag for a in _wanted(query) if a.level == level)]
    tags_param = p([t for t in dict.fromkeys(tags) if t not in _COMPUTED_TAGS])
    return _picked(f"{_ALIAS[level]}_doc.doc", tags_param)


def _picked(doc: str, tags: str) -> str:
    """The members of the jsonb ``doc`` whose keys are in the text array ``tags``."""
    return f"(SELECT jsonb_object_agg(k, {doc} -> k) FROM unnest({tags}::text[]) k WHERE {doc} ? k)"


def _filter_condition(
    f: Filter, base: Level, timezone_offset: int | None, p: _Parameters
) -> tuple[Level, str | None]:
    """Which level a filter reads, and its SQL condition (``None`` for universal matching)."""
    top = f.path[0]
    level = base if top.keyword in _SHARED else top.level
    if isinstance(f.match, Universal):
        return level, None
    if f.extended is not None:
        return level, _extended_condition(f, f.extended, p)
    local = _LOCAL_DATE_TIME.get(top.keyword)
    if timezone_offset is not None and local and isinstance(f.match, SingleValue | Range):
        return level, _adjusted_condition(level, local, top.vr, f.match, timezone_offset, p)
    column = _COLUMNS.get(top.keyword)
    if len(f.path) == 1 and column is not None:
        name, kind = column
        return level, _column_condition(f"{_ALIAS[level]}.{name}", kind, f.match, p)
    if f.attribute.vr == "DT" and isinstance(f.match, SingleValue | Range):
        return level, _moment_condition(_DOC[level], f, f.match, timezone_offset, p)
    return level, _document_condition(_DOC[level], f, p)


def unindexed(query: Query) -> list[Filter]:
    """The filters that match stored metadata documents rather than indexed values: neither a
    typed column nor a ready, enabled extended query tag holds their attribute."""
    return [
        f
        for f in query.filters
        if not isinstance(f.match, Universal)
        and f.extended is None
        and (len(f.path) > 1 or f.path[0].keyword not in _COLUMNS)
    ]


def _extended_condition(f: Filter, tag: extendedtags.ExtendedTag, p: _Parameters) -> str:
    """Match an extended query tag's indexed value (migration 0017) with the rules of the
    typed columns: text, date ranges, case-insensitive and fuzzy person names, numbers."""
    table, uid = extendedtags.VALUE_TABLES[tag.level]
    column, match = f"v.{tag.value_column}", f.match
    if tag.value_column == "number_value":
        assert isinstance(match, SingleValue)  # numeric VRs parse only to single values
        condition = f"{column} = {p(match.value)}::text::float8"
    elif tag.vr == "DA" and isinstance(match, Range):
        condition = _date_range_condition(column, match, p)
    else:
        condition = _text_condition(column, tag.vr == "PN", match, p)
    return (
        f"EXISTS (SELECT 1 FROM {table} v WHERE v.tag_key = {p(tag.key)} "
        f"AND v.{uid} = {_ALIAS[tag.level]}.{uid} AND {condition})"
    )


def _empty_condition(attribute: Attribute, level: Level, p: _Parameters) -> str:
    """The attribute is absent or has no value: what Empty Value Matching also accepts
    (PS3.4 C.2.2.2.7). A typed column holds NULL (or an empty text) for it."""
    column = _COLUMNS.get(attribute.keyword)
    if column is None:
        values = f"({_DOC[level]} -> {p(attribute.tag)}::text -> 'Value')"
        return f"coalesce(jsonb_array_length({values}), 0) = 0"
    name, kind = column
    expression = f"{_ALIAS[level]}.{name}"
    if kind == "array":
        return f"cardinality({expression}) = 0"
    if kind == "integer":
        return f"{expression} IS NULL"
    return f"({expression} IS NULL OR {expression} = '')"


def _column_condition(column: str, kind: Kind, match: Match, p: _Parameters) -> str:
    if kind == "array":
        return _array_condition(column, match, p)
    if kind == "integer":
        assert isinstance(match, SingleValue)  # numeric VRs parse only to single values
        return f"{column} = {p(match.value)}::text::numeric"
    if kind == "date" and isinstance(match, Range):
        return _date_range_condition(indexed_prefix(column), match, p)
    condition = _text_condition(column, kind == "name", match, p)
    prefix = _prefix_condition(column, match, p)
    return f"{prefix} AND {condition}" if prefix else condition


# Columns indexed by their first characters (indexer migration 0014): a value of any length is
# stored, the index finds the rows by prefix and the whole value is compared on those rows.
PREFIX_INDEXED = frozenset(
    {"patient_id", "accession_number", "study_date", "modality", "modalities_in_study"}
)
PREFIX_LENGTH = 256


def indexed_prefix(column: str) -> str:
    """The expression a prefix-indexed column is indexed on (the column itself otherwise).
    Ranges compare it alone: DA values have eight characters, far inside the prefix."""
    if column.rpartition(".")[2] in PREFIX_INDEXED:
        return f"left({column}, {PREFIX_LENGTH})"
    return column


def _prefix_condition(column: str, match: Match, p: _Parameters) -> str | None:
    """The index condition implied by an exact match on a prefix-indexed column."""
    expr = indexed_prefix(column)
    if expr == column:
        return None
    if isinstance(match, SingleValue):
        return f"{expr} = {p(match.value[:PREFIX_LENGTH])}"
    if isinstance(match, ValueList):
        return f"{expr} = ANY({p([v[:PREFIX_LENGTH] for v in match.values])}::text[])"
    return None


# Date and time columns that name one moment together, in the entity's own timezone.
_LOCAL_DATE_TIME = {
    "StudyDate": ("study_date", "study_time"),
    "StudyTime": ("study_date", "study_time"),
    "PerformedProcedureStepStartDate": (
        "performed_procedure_step_start_date", "performed_procedure_step_start_time"),
    "PerformedProcedureStepStartTime": (
        "performed_procedure_step_start_date", "performed_procedure_step_start_time"),
}  # fmt: skip
# Two offsets apart by at most 23:59 each: moving a date into another timezone shifts it by
# under two days, so the stored date column still narrows the search through its index.
_MOST_DAYS_SHIFTED = 2


def _adjusted_condition(
    level: Level,
    columns: tuple[str, str],
    vr: str,
    match: SingleValue | Range,
    timezone_offset: int,
    p: _Parameters,
) -> str:
    """Match a DA or TM in the query's timezone (PS3.4 C.2.2.2.1.3, C.2.2.2.5.2): the entity's
    date and time move from its TimezoneOffsetFromUTC into the query's before they compare.

    An entity without a time or an offset has no moment to move (its local timezone is
    undefined), so its values are matched as stored, as they are without a query timezone.
    """
    a = _ALIAS[level]
    date, time = f"{a}.{columns[0]}", f"{a}.{columns[1]}"
    moved = (
        f"(dicom_local_timestamp({date}, {time}) "
        f"+ make_interval(mins => {p(timezone_offset)}::int - {_stored_offset(_DOC[level])}))"
    )
    if vr == "TM":  # HHMMSS to the stored precision, the fraction as stored
        value = (
            f"coalesce(left(to_char({moved}, 'HH24MISS'), length(split_part({time}, '.', 1)))"
            f" || coalesce(substring({time} from '[.].*$'), ''), {time})"
        )
        return _text_condition(value, False, match, p)
    value = f"coalesce(to_char({moved}, 'YYYYMMDD'), {date})"
    low, high = _bounds(match)
    return " AND ".join(
        [
            _date_range_condition(indexed_prefix(date), Range(_days(low, -1), _days(high, 1)), p),
            _date_range_condition(value, Range(low, high), p),
        ]
    )


def _bounds(match: SingleValue | Range) -> tuple[str | None, str | None]:
    """A single value as the range from itself to itself."""
    if isinstance(match, SingleValue):
        return match.value, match.value
    return match.low, match.high


def _stored_offset(doc: str) -> str:
    """The entity's own TimezoneOffsetFromUTC in minutes, NULL when it has none."""
    return f"dicom_offset_minutes({doc} -> '00080201' -> 'Value' ->> 0)"


def _days(value: str | None, direction: int) -> str | None:
    """A DA moved by the most a timezone change can move a date, in ``direction``."""
    if value is None:
        return None
    day = datetime.datetime.strptime(value, "%Y%m%d").date()
    try:
        moved = day + datetime.timedelta(days=direction * _MOST_DAYS_SHIFTED)
    except OverflowError:  # past year 1 or 9999: that end stays open
        return None
    return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"


def _date_range_condition(column: str, match: Range, p: _Parameters) -> str:
    """DA values always have eight digits, so both ends compare directly: index-backed."""
    parts = []
    if match.low is not None:
        parts.append(f"{column} >= {p(match.low)}")
    if match.high is not None:
        parts.append(f"{column} <= {p(match.high)}")
    return " AND ".join(parts)


def _text_condition(expr: str, name: bool, match: Match, p: _Parameters) -> str:
    """Text matching; person names compare case-insensitively (PS3.4 C.2.2.2.1)."""
    if name:
        expr = f"lower({expr})"
    if isinstance(match, SingleValue):
        return f"{expr} = lower({p(match.value)})" if name else f"{expr} = {p(match.value)}"
    if isinstance(match, ValueList):
        return f"{expr} = ANY({p(list(match.values))}::text[])"
    if isinstance(match, Wildcard):
        pattern = p(like_pattern(match.pattern))
        return f"{expr} LIKE lower({pattern})" if name else f"{expr} LIKE {pattern}"
    if isinstance(match, FuzzyName):
        return " AND ".join(f"{expr} ~ {p(fuzzy_regex(w))}" for w in match.words) or "true"
    assert isinstance(match, Range)
    return _range_condition(expr, match, p)


def _range_condition(expr: str, match: Range, p: _Parameters) -> str:
    """Inclusive range; the upper end compares on its own precision, so ``-1030`` includes
    10:30:59 and ``-2024`` (DT) includes all of 2024 (PS3.4 C.2.2.2.5)."""
    parts = []
    if match.low is not None:
        parts.append(f"{expr} >= {p(match.low)}")
    if match.high is not None:
        high = p(match.high)
        parts.append(f"left({expr}, length({high})) <= {high}")
    return " AND ".join(parts)


def _array_condition(column: str, match: Match, p: _Parameters) -> str:
    """Multi-valued computed attributes (ModalitiesInStudy, SOPClassesInStudy): any value
    matches (C.2.2.2.1)."""
    if column.rpartition(".")[2] not in PREFIX_INDEXED:
        return _plain_array_condition(column, match, p)
    prefixes = f"dicom_prefixes({column})"  # indexed (migration 0014); values compared after
    if isinstance(match, SingleValue):
        return (
            f"{prefixes} @> {p([match.value[:PREFIX_LENGTH]])}::text[]"
            f" AND {column} @> {p([match.value])}::text[]"
        )
    if isinstance(match, ValueList):
        return (
            f"{prefixes} && {p([v[:PREFIX_LENGTH] for v in match.values])}::text[]"
            f" AND {column} && {p(list(match.values))}::text[]"
        )
    return _plain_array_condition(column, match, p)


def _plain_array_condition(column: str, match: Match, p: _Parameters) -> str:
    if isinstance(match, SingleValue):
        return f"{column} @> {p([match.value])}::text[]"
    if isinstance(match, ValueList):
        return f"{column} && {p(list(match.values))}::text[]"
    return (
        f"EXISTS (SELECT 1 FROM unnest({column}) v WHERE {_text_condition('v', False, match, p)})"
    )


def _moment_condition(
    doc: str, f: Filter, match: SingleValue | Range, timezone_offset: int | None, p: _Parameters
) -> str:
    """DT values match as moments in time (PS3.4 C.2.2.2.5.3): each value in its own offset,
    else in its entity's TimezoneOffsetFromUTC, else in the query's, else in UTC. A value
    matches from its first instant to its last at its precision: ``2024`` is all of 2024."""
    low, high = _bounds(match)
    read_in = f"coalesce({_stored_offset(doc)}, {p(timezone_offset)}::int)"
    source, last = _elements(doc, f.path, p)
    moment = f"dicom_utc_moment({last} #>> '{{}}', {read_in})"
    tests = []
    if low is not None:
        tests.append(f"{moment} >= {p(moments.first_instant(low, timezone_offset))}")
    if high is not None:
        tests.append(f"{moment} <= {p(moments.last_instant(high, timezone_offset))}")
    return f"EXISTS (SELECT 1 FROM {source} WHERE {' AND '.join(tests)})"


def _document_condition(doc: str, f: Filter, p: _Parameters) -> str:
    """Match stored DICOM JSON: containment for exact values (GIN-indexable), otherwise the
    values reached through the sequence path (C.2.2.2.6: any item may match)."""
    match, vr = f.match, f.attribute.vr
    # A UN value may be stored as a string or a number: compared as text, not by containment.
    if isinstance(match, SingleValue | ValueList) and vr not in ("PN", "UN"):
        values = match.values if isinstance(match, ValueList) else (match.value,)
        tests = [f"{doc} @> {p(_containment(f.path, _json_value(vr, v)))}::jsonb" for v in values]
        return f"({' OR '.join(tests)})"
    source, last = _elements(doc, f.path, p)
    value = f"({last} ->> 'Alphabetic')" if vr == "PN" else f"({last} #>> '{{}}')"
    return f"EXISTS (SELECT 1 FROM {source} WHERE {_text_condition(value, vr == 'PN', match, p)})"


def _elements(doc: str, path: tuple[Attribute, ...], p: _Parameters) -> tuple[str, str]:
    """The values a key reaches in a stored document, through its sequence items (C.2.2.2.6:
    any item may match): a FROM clause and the alias of its values."""
    source = f"jsonb_array_elements({doc} -> {p(path[0].tag)}::text -> 'Value') e0"
    for depth, step in enumerate(path[1:], start=1):
        source += (
            f" CROSS JOIN LATERAL jsonb_array_elements(e{depth - 1} -> {p(step.tag)}::text "
            f"-> 'Value') e{depth}"
        )
    return source, f"e{len(path) - 1}"


def _containment(path: tuple[Attribute, ...], value: Any) -> DicomJson:
    inner: Any = value
    for step in reversed(path):
        inner = {step.tag: {"Value": [inner]}}
    result: DicomJson = inner
    return result


def _json_value(vr: str, value: str) -> Any:
    """DICOM JSON carries IS, DS and binary numbers as JSON numbers (PS3.18 F.2.3)."""
    if vr in ("IS", "US", "UL", "SS", "SL", "SV", "UV") and parameters.is_integer(value):
        return int(value)
    if vr in ("IS", "DS", "FL", "FD"):
        return float(value)
    return value


def like_pattern(pattern: str) -> str:
    """DICOM wildcards to SQL LIKE: ``*`` → ``%``, ``?`` → ``_``, LIKE's own escaped."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def fuzzy_regex(word: str) -> str:
    """A word that must start some name component (after ``^``, ``=``, space or the start)."""
    return r"(^|[\^= ])" + re.escape(word.lower())
