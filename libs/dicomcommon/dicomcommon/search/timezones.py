"""Dates, times and date-times in search SQL: timezone query adjustment (PS3.4 C.2.2.2.1.3)
moves a study's or series' date and time into the query's offset through migration 0011's
``dicom_local_timestamp``; DT values match as moments (C.2.2.2.5.3), the stored side read by
``dicom_utc_moment`` and the query's bounds computed by ``moments`` (the authority).
"""

from __future__ import annotations

import datetime

from dicomcommon.dicom import moments
from dicomcommon.dicom.dicomjson import (
    Level,
)
from dicomcommon.search.columns import ALIAS as _ALIAS
from dicomcommon.search.columns import DOC as _DOC
from dicomcommon.search.query import (
    Filter,
    Range,
    SingleValue,
)

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).
from dicomcommon.search.terms import Parameters, elements, indexed_prefix, text_condition

# Date and time columns that name one moment together, in the entity's own timezone.
LOCAL_DATE_TIME = {
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


def adjusted_condition(
    level: Level,
    columns: tuple[str, str],
    vr: str,
    match: SingleValue | Range,
    timezone_offset: int,
    p: Parameters,
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
        return text_condition(value, False, match, p)
    value = f"coalesce(to_char({moved}, 'YYYYMMDD'), {date})"
    low, high = _bounds(match)
    return " AND ".join(
        [
            date_range_condition(indexed_prefix(date), Range(_days(low, -1), _days(high, 1)), p),
            date_range_condition(value, Range(low, high), p),
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


def date_range_condition(column: str, match: Range, p: Parameters) -> str:
    """DA values always have eight digits, so both ends compare directly: index-backed."""
    parts = []
    if match.low is not None:
        parts.append(f"{column} >= {p(match.low)}")
    if match.high is not None:
        parts.append(f"{column} <= {p(match.high)}")
    return " AND ".join(parts)


def _instants(
    match: SingleValue | Range, timezone_offset: int | None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """The first and last instants, in UTC, that a DT single value or range names."""
    low, high = _bounds(match)
    first = None if low is None else moments.first_instant(low, timezone_offset)
    return first, None if high is None else moments.last_instant(high, timezone_offset)


def indexed_moment_condition(
    match: SingleValue | Range, timezone_offset: int | None, p: Parameters
) -> str:
    """A DT extended query tag's moment (``v.moment_value``, migration 0018) within the match,
    index-backed. A floating value (no offset of its own or its instance's) is kept as read in
    UTC; a query with its own timezone reads it there, which moves the bounds it is compared
    with by that offset instead of moving every value."""
    first, last = _instants(match, timezone_offset)

    def within(minutes: int) -> str:
        tests = [] if first is None else [f"v.moment_value >= {p(moments.moved(first, minutes))}"]
        if last is not None:
            tests.append(f"v.moment_value <= {p(moments.moved(last, minutes))}")
        return " AND ".join(tests)

    if not timezone_offset:
        return within(0)
    return (
        f"((v.moment_floating IS NOT TRUE AND {within(0)}) "
        f"OR (v.moment_floating AND {within(timezone_offset)}))"
    )


def moment_condition(
    doc: str, f: Filter, match: SingleValue | Range, timezone_offset: int | None, p: Parameters
) -> str:
    """DT values match as moments in time (PS3.4 C.2.2.2.5.3): each value in its own offset,
    else in its entity's TimezoneOffsetFromUTC, else in the query's, else in UTC. A value
    matches from its first instant to its last at its precision: ``2024`` is all of 2024."""
    first, last_instant = _instants(match, timezone_offset)
    read_in = f"coalesce({_stored_offset(doc)}, {p(timezone_offset)}::int)"
    source, last = elements(doc, f.path, p)
    moment = f"dicom_utc_moment({last} #>> '{{}}', {read_in})"
    tests = []
    if first is not None:
        tests.append(f"{moment} >= {p(first)}")
    if last_instant is not None:
        tests.append(f"{moment} <= {p(last_instant)}")
    return f"EXISTS (SELECT 1 FROM {source} WHERE {' AND '.join(tests)})"
