"""The parsed, immutable QIDO-RS query: what to match, what to return, which page.

``parse_query`` turns the (already percent-decoded) query parameters of PS3.18 §8.3.4 into a
``Query`` whose filters follow the matching types of PS3.4 C.2.2.2: universal, single value,
wildcard, UID list, range, sequence, and fuzzy person-name matching. Anything it cannot
honour is an ``InvalidQuery`` naming the parameter, so the SQL layer never sees bad input.

A ``TimezoneOffsetFromUTC`` key is not matched: it is the timezone of the query's dates and
times (PS3.4 C.2.2.2.1.3, C.2.2.2.5.2), kept as ``Query.timezone_offset``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from dicomcommon.dicom import moments, uids
from dicomcommon.dicom.dicomjson import Attribute, Level, lookup
from dicomcommon.errors import InvalidQuery
from dicomcommon.search.extendedtags import ExtendedTag
from dicomcommon.web import parameters


@dataclass(frozen=True, slots=True)
class Universal:
    """Empty value or ``*``: every entity matches; the attribute is returned (C.2.2.2.3)."""


@dataclass(frozen=True, slots=True)
class SingleValue:
    """Exact match (C.2.2.2.1); case-sensitive except for PN, which matches case-insensitively."""

    value: str


@dataclass(frozen=True, slots=True)
class ValueList:
    """Any of several values: UID list matching (C.2.2.2.2), extended to CS attributes."""

    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` any run of characters, ``?`` one character (C.2.2.2.4)."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive DA / TM / DT range, either end open (C.2.2.2.5)."""

    low: str | None
    high: str | None


@dataclass(frozen=True, slots=True)
class FuzzyName:
    """PN with ``fuzzymatching=true``: every word starts some name component, any case
    (PS3.18 §8.3.4.6)."""

    words: tuple[str, ...]


Match = Universal | SingleValue | ValueList | Wildcard | Range | FuzzyName


@dataclass(frozen=True, slots=True)
class Filter:
    """A matching key; a path longer than one is sequence matching (C.2.2.2.6)."""

    path: tuple[Attribute, ...]
    match: Match
    extended: ExtendedTag | None = None
    """The extended query tag whose indexed values the key matches, when it names one that
    is ready and enabled."""

    @property
    def attribute(self) -> Attribute:
        return self.path[-1]

    @property
    def key(self) -> str:
        return ".".join(str(a) for a in self.path)


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``orderby`` key (the dcm4chee-arc syntax): an attribute, ascending unless it is
    written with a leading ``-``."""

    attribute: Attribute
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A search at one level, optionally scoped by the UIDs of the resource path."""

    level: Level
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    filters: tuple[Filter, ...] = ()
    includefields: tuple[Attribute, ...] = ()
    include_all: bool = False
    fuzzymatching: bool = False
    limit: int = 100
    offset: int = 0
    warnings: tuple[str, ...] = field(default=())
    empty_value_matching: bool = False
    """``emptyvaluematching=true`` (PS3.18 §8.3.4.5, PS3.4 C.2.2.2.7): an entity whose
    attribute is empty or absent matches a top-level key too."""
    timezone_offset: int | None = None
    """Minutes east of UTC that the query's dates and times are in, when it says so."""
    order: tuple[OrderKey, ...] = ()
    """The ``orderby`` keys, most significant first; empty for the level's default order."""
    count_total: bool = False
    """``count=true``: the answer also says how many entities match in all."""
    requested_only: bool = False
    """Each match carries the attributes the query names (its keys and ``includefield``s) and
    its UIDs, not the attributes PS3.18 requires of every QIDO match: what C-FIND answers
    (PS3.4 C.2.2.1.2) and all its SQL needs to build."""


# Parameters that shape the transport, not the search (PS3.18 §8.3.3.1, §8.3.4).
TRANSPORT_PARAMETERS = frozenset({"accept", "charset"})
# ``[0-9]``, not ``\d``: dates and times are ASCII digits (``\d`` also matches Arabic-Indic).
_DATE = r"[0-9]{8}"
_TIME = r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
_DATETIME = (
    r"[0-9]{4}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?)?)?"
    r"(?:[+-][0-9]{4})?"
)
_TEMPORAL = {
    "DA": re.compile(_DATE),
    "TM": re.compile(_TIME),
    "DT": re.compile(_DATETIME),
}
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
# UN: a private or unknown attribute nobody declared; its stored values match as text.
_TEXT_VRS = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"})
_NAME_SEPARATORS = re.compile(r"[\^= ,]+")


def parse_query(
    level: Level,
    params: Iterable[tuple[str, str]],
    *,
    max_limit: int,
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    extended: Mapping[str, ExtendedTag] | None = None,
) -> Query:
    """Build the query model from decoded ``(name, value)`` pairs (PS3.18 §8.3.4);
    ``extended``: the searchable extended query tags, by ``ggggeeee``."""
    pairs = [(n, v) for n, v in parameters.texts(params) if n not in TRANSPORT_PARAMETERS]
    options = {name: value for name, value in pairs if name in _OPTIONS}
    fuzzy = parameters.boolean("fuzzymatching", options.get("fuzzymatching"), False)
    matching = [(n, v) for n, v in pairs if n not in _OPTIONS]
    filters = _filters(level, matching, fuzzy, extended or {})
    filters, timezone_offset = _timezone(filters)
    include_all, includes = _includefields(v for n, v in pairs if n == "includefield")
    order = _order(level, (v for n, v in pairs if n == "orderby"))
    return Query(
        level=level,
        study_instance_uid=_scope_uid(study_instance_uid, "StudyInstanceUID"),
        series_instance_uid=_scope_uid(series_instance_uid, "SeriesInstanceUID"),
        filters=filters,
        timezone_offset=timezone_offset,
        includefields=includes,
        include_all=include_all,
        fuzzymatching=fuzzy,
        limit=min(
            parameters.optional_integer("limit", options.get("limit"), max_limit, low=1), max_limit
        ),
        offset=parameters.optional_integer("offset", options.get("offset"), 0),
        empty_value_matching=parameters.boolean(
            "emptyvaluematching", options.get("emptyvaluematching"), False
        ),
        order=order,
        count_total=parameters.boolean("count", options.get("count"), False),
    )


_OPTIONS = frozenset(
    {"limit", "offset", "fuzzymatching", "includefield", "emptyvaluematching", "orderby", "count"}
)


def matching_keys(params: Iterable[tuple[str, str]]) -> list[str]:
    """The matching keys among a query's parameters: neither options nor transport."""
    return [n for n, _ in params if n not in _OPTIONS and n not in TRANSPORT_PARAMETERS]


def _timezone(filters: tuple[Filter, ...]) -> tuple[tuple[Filter, ...], int | None]:
    """Take TimezoneOffsetFromUTC out of the matching: it is returned, never matched, and its
    value (``+HHMM`` / ``-HHMM``) becomes the query's timezone in minutes east of UTC."""
    offset = None
    kept = []
    for f in filters:
        if len(f.path) == 1 and f.attribute.keyword == "TimezoneOffsetFromUTC":
            if not isinstance(f.match, Universal):
                offset = _offset_minutes(f.key, f.match)
            f = replace(f, match=Universal())
        kept.append(f)
    return tuple(kept), offset


def _offset_minutes(key: str, match: Match) -> int:
    minutes = moments.offset_minutes(match.value) if isinstance(match, SingleValue) else None
    if minutes is None:
        raise InvalidQuery(f"{key}: a timezone offset is +HHMM or -HHMM (-2359 to +2359)")
    return minutes


def _scope_uid(value: str | None, name: str) -> str | None:
    if value is not None and not uids.is_safe_uid(value):
        raise InvalidQuery(f"{name} in the path is not a valid UID: {value[:80]!r}")
    return value


def _includefields(values: Iterable[str]) -> tuple[bool, tuple[Attribute, ...]]:
    """``includefield`` repeated or comma-separated, by keyword or tag, or ``all``."""
    include_all = False
    found: list[Attribute] = []
    for value in values:
        for key in filter(None, (k.strip() for k in value.split(","))):
            if key == "all":
                include_all = True
                continue
            path = _path("includefield", key)
            found.append(path[0])
    return include_all, tuple(dict.fromkeys(found))


def _order(level: Level, values: Iterable[str]) -> tuple[OrderKey, ...]:
    """``orderby`` repeated or comma-separated, by keyword or tag, ``-`` for descending
    (``orderby=-StudyDate,-StudyTime``); an attribute of a lower level than the search's
    cannot order it."""
    found: dict[Attribute, OrderKey] = {}
    for value in values:
        for key in filter(None, (k.strip() for k in value.split(","))):
            name = key.removeprefix("-")
            if "." in name:
                raise InvalidQuery(f"orderby: {key[:80]!r} is a sequence path, not one attribute")
            [attribute] = _path("orderby", name)
            if attribute.level > level:
                raise InvalidQuery(
                    f"orderby: {attribute} is a {attribute.level.name.lower()}-level attribute; "
                    f"it cannot order a {level.name.lower()} search"
                )
            found.setdefault(attribute, OrderKey(attribute, key.startswith("-")))
    return tuple(found.values())


def _path(parameter: str, key: str) -> tuple[Attribute, ...]:
    path = []
    for part in key.split("."):
        attribute = lookup(part)
        if attribute is None:
            raise InvalidQuery(f"{parameter}: {key[:80]!r} is not a DICOM keyword or tag")
        path.append(attribute)
    for outer in path[:-1]:
        if outer.vr != "SQ":
            raise InvalidQuery(f"{parameter}: {outer} in {key[:80]!r} is not a sequence")
    return tuple(path)


def _filters(
    level: Level,
    pairs: list[tuple[str, str]],
    fuzzy: bool,
    extended: Mapping[str, ExtendedTag],
) -> tuple[Filter, ...]:
    filters: dict[str, Filter] = {}
    for key, value in pairs:
        path = _path(key, key)
        tag = extended.get(path[0].tag) if len(path) == 1 else None
        if tag is not None:  # its declared VR and level win over the dictionary's
            path = (replace(path[0], vr=tag.vr, declared_level=tag.level),)
        if path[0].level > level:
            raise InvalidQuery(
                f"{key}: a {path[0].level.name.lower()}-level attribute cannot be matched "
                f"in a {level.name.lower()} search"
            )
        match = parse_match(key, path[-1], value, fuzzy=fuzzy)
        if key in filters:
            raise InvalidQuery(f"{key}: given more than once")
        filters[key] = Filter(path, match, tag)
    return tuple(filters.values())


def parse_match(key: str, attribute: Attribute, value: str, *, fuzzy: bool = False) -> Match:
    """Choose the PS3.4 C.2.2.2 matching type for one key by its VR and value."""
    vr = attribute.vr
    if value in ("", "*"):
        return Universal()
    if vr == "SQ":
        raise InvalidQuery(f"{key}: a sequence matches only by its items' attributes")
    if vr in _TEMPORAL:
        return _temporal(key, vr, value)
    if vr == "UI":
        return _uid_list(key, value)
    if vr in _NUMERIC_VRS:
        if not parameters.is_number(value):
            raise InvalidQuery(f"{key}: {value[:40]!r} is not a number")
        return SingleValue(value)
    if vr not in _TEXT_VRS:
        raise InvalidQuery(f"{key}: attributes of VR {vr} cannot be matched")
    if vr == "PN" and fuzzy and not _has_wildcard(value):
        return FuzzyName(tuple(w.lower() for w in _NAME_SEPARATORS.split(value) if w))
    if _has_wildcard(value):
        return Wildcard(value)
    if vr == "CS" and ("\\" in value or "," in value):
        return ValueList(_listed(key, value))
    return SingleValue(value)


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _listed(key: str, value: str) -> tuple[str, ...]:
    """The values of a list (comma or backslash separated); a list of only separators names
    no value to match, and is refused rather than matching nothing (or everything)."""
    values = tuple(v for v in re.split(r"[\\,]", value) if v)
    if not values:
        raise InvalidQuery(f"{key}: {value[:40]!r} lists no value")
    return values


def _uid_list(key: str, value: str) -> Match:
    """UID list matching: comma (PS3.18 §8.3.4.1) or backslash (PS3.4) separated."""
    values = _listed(key, value)
    for uid in values:
        if not uids.is_safe_uid(uid):
            raise InvalidQuery(f"{key}: {uid[:80]!r} is not a valid UID")
    if len(values) == 1:
        return SingleValue(values[0])
    return ValueList(values)


def _temporal(key: str, vr: str, value: str) -> Match:
    """DA, TM, DT: a single value or a ``low-high`` range with either end open."""
    pattern = _TEMPORAL[vr]
    if pattern.fullmatch(value):
        _check_moment(key, vr, value)
        return SingleValue(value)
    low, dash, high = value.partition("-")
    if vr == "DT":
        found = re.fullmatch(f"({_DATETIME})?-({_DATETIME})?", value)
        low, high = (found.group(1) or "", found.group(2) or "") if found else (value, "")
        dash = "-" if found else ""
    if not dash or (not low and not high):
        raise InvalidQuery(f"{key}: {value[:40]!r} is not a valid {vr} value or range")
    for end in (low, high):
        if end and not pattern.fullmatch(end):
            raise InvalidQuery(f"{key}: {value[:40]!r} is not a valid {vr} range")
        if end:
            _check_moment(key, vr, end)
    if low and high and vr != "DT" and low > high:
        raise InvalidQuery(f"{key}: the range {value[:40]!r} ends before it starts")
    return Range(low or None, high or None)


def _check_moment(key: str, vr: str, value: str) -> None:
    """A DA must name a day (20240230 does not); a DT a day, hour, minute and offset too."""
    if vr not in ("DA", "DT"):
        return
    try:
        moments.first_instant(value, None)
    except ValueError:
        raise InvalidQuery(
            f"{key}: {value!r} is not a {'date' if vr == 'DA' else 'date-time'}"
        ) from None
