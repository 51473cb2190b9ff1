"""Matching (PS3.4 C.2.2.2): each ``query.Filter`` as one SQL condition, by matching type:
typed, indexed columns for the common keys; the stored DICOM JSON of the level for every other
key and for sequence matching; ``extended_tag_*`` tables for extended query tags. Dates, times
and date-times defer to ``timezones``.
"""

from __future__ import annotations

from typing import Any

from dicomcommon.dicom.dicomjson import Attribute, Level
from dicomcommon.search import extendedtags
from dicomcommon.search.columns import ALIAS as _ALIAS
from dicomcommon.search.columns import COLUMNS as _COLUMNS
from dicomcommon.search.columns import DOC as _DOC
from dicomcommon.search.columns import SHARED as _SHARED
from dicomcommon.search.columns import Kind
from dicomcommon.search.query import Filter, Match, Query, Range, SingleValue, Universal, ValueList
from dicomcommon.search.terms import (
    PREFIX_INDEXED,
    PREFIX_LENGTH,
    Parameters,
    containment,
    elements,
    indexed_prefix,
    json_value,
    prefix_condition,
    text_condition,
    top_values,
)
from dicomcommon.search.timezones import (
    LOCAL_DATE_TIME,
    adjusted_condition,
    date_range_condition,
    indexed_moment_condition,
    moment_condition,
)


def filter_condition(
    f: Filter, base: Level, timezone_offset: int | None, p: Parameters
) -> tuple[Level, str | None]:
    """Which level a filter reads, and its SQL condition (``None`` for universal matching)."""
    top = f.path[0]
    level = filter_level(f, base)
    if isinstance(f.match, Universal):
        return level, None
    if f.extended is not None:
        return level, _extended_condition(f, f.extended, timezone_offset, p)
    local = LOCAL_DATE_TIME.get(top.keyword)
    if timezone_offset is not None and local and isinstance(f.match, SingleValue | Range):
        return level, adjusted_condition(level, local, top.vr, f.match, timezone_offset, p)
    column = _COLUMNS.get(top.keyword)
    if len(f.path) == 1 and column is not None:
        name, kind = column
        return level, _column_condition(f"{_ALIAS[level]}.{name}", kind, f.match, p)
    if f.attribute.vr == "DT" and isinstance(f.match, SingleValue | Range):
        return level, moment_condition(_DOC[level], f, f.match, timezone_offset, p)
    return level, _document_condition(_DOC[level], f, p)


def filter_level(f: Filter, base: Level) -> Level:
    """The level whose table (or document) a filter reads in a search of ``base``: its
    attribute's, except the UIDs that lower tables repeat."""
    top = f.path[0]
    return base if top.keyword in _SHARED else top.level


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


def _extended_condition(
    f: Filter, tag: extendedtags.ExtendedTag, timezone_offset: int | None, p: Parameters
) -> str:
    """Match an extended query tag's indexed value (migrations 0017, 0018) with the rules of the
    typed columns: text, date ranges, case-insensitive and fuzzy person names, numbers; DT
    values as moments, like the DT attributes of stored metadata (``moment_condition``)."""
    table, uid = extendedtags.VALUE_TABLES[tag.level]
    column, match = f"v.{tag.value_column}", f.match
    if tag.vr == "DT" and isinstance(match, SingleValue | Range):
        condition = indexed_moment_condition(match, timezone_offset, p)
    elif tag.value_column == "number_value":
        assert isinstance(match, SingleValue)  # numeric VRs parse only to single values
        condition = f"{column} = {p(match.value)}::text::float8"
    elif tag.vr == "DA" and isinstance(match, Range):
        condition = date_range_condition(column, match, p)
    else:
        condition = text_condition(column, tag.vr == "PN", match, p)
    return (
        f"EXISTS (SELECT 1 FROM {table} v WHERE v.tag_key = {p(tag.key)} "
        f"AND v.{uid} = {_ALIAS[tag.level]}.{uid} AND {condition})"
    )


def empty_condition(attribute: Attribute, level: Level, p: Parameters) -> str:
    """The attribute is absent or has no value: what Empty Value Matching also accepts
    (PS3.4 C.2.2.2.7). A typed column holds NULL (or an empty text) for it."""
    column = _COLUMNS.get(attribute.keyword)
    if column is None:
        values = top_values(_DOC[level], p(attribute.tag))
        return f"coalesce(jsonb_array_length({values}), 0) = 0"
    name, kind = column
    expression = f"{_ALIAS[level]}.{name}"
    if kind == "array":
        return f"cardinality({expression}) = 0"
    if kind == "integer":
        return f"{expression} IS NULL"
    return f"({expression} IS NULL OR {expression} = '')"


def _column_condition(column: str, kind: Kind, match: Match, p: Parameters) -> str:
    if kind == "array":
        return _array_condition(column, match, p)
    if kind == "integer":
        assert isinstance(match, SingleValue)  # numeric VRs parse only to single values
        return f"{column} = {p(match.value)}::text::numeric"
    if kind == "date" and isinstance(match, Range):
        return date_range_condition(indexed_prefix(column), match, p)
    condition = text_condition(column, kind == "name", match, p)
    prefix = prefix_condition(column, match, p)
    return f"{prefix} AND {condition}" if prefix else condition


def _array_condition(column: str, match: Match, p: Parameters) -> str:
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


def _plain_array_condition(column: str, match: Match, p: Parameters) -> str:
    if isinstance(match, SingleValue):
        return f"{column} @> {p([match.value])}::text[]"
    if isinstance(match, ValueList):
        return f"{column} && {p(list(match.values))}::text[]"
    return f"EXISTS (SELECT 1 FROM unnest({column}) v WHERE {text_condition('v', False, match, p)})"


def _document_condition(doc: str, f: Filter, p: Parameters) -> str:
    """Match stored DICOM JSON: containment for exact values (GIN-indexable), otherwise the
    values reached through the sequence path (C.2.2.2.6: any item may match)."""
    match, vr = f.match, f.attribute.vr
    # A UN value may be stored as a string or a number: compared as text, not by containment.
    if isinstance(match, SingleValue | ValueList) and vr not in ("PN", "UN"):
        values = match.values if isinstance(match, ValueList) else (match.value,)
        if doc == _DOC[Level.INSTANCE]:
            return _instance_containment(doc, f, [json_value(vr, v) for v in values], p)
        wanted = [p(containment(f.path, json_value(vr, v))) for v in values]
        return f"({' OR '.join(f'{doc} @> {w}::jsonb' for w in wanted)})"
    source, last = elements(doc, f.path, p)
    value = f"({last} ->> 'Alphabetic')" if vr == "PN" else f"({last} #>> '{{}}')"
    return f"EXISTS (SELECT 1 FROM {source} WHERE {text_condition(value, vr == 'PN', match, p)})"


def _instance_containment(doc: str, f: Filter, values: list[Any], p: Parameters) -> str:
    """Exact values of an instance attribute, tested in its ``Value`` array (from the elements
    kept in the row when they hold it, ``top_values``) or, for a sequence path, in the whole
    metadata. No GIN index serves either: the test is costed as the read it is (0018)."""
    if len(f.path) == 1:
        source = f"coalesce({top_values(doc, p(f.path[0].tag))}, '[]'::jsonb)"
        wanted = [p([v]) for v in values]
    else:
        source, wanted = doc, [p(containment(f.path, v)) for v in values]
    tests = [f"dicom_metadata_contains({source}, {w}::jsonb)" for w in wanted]
    return f"({' OR '.join(tests)})"
