"""DICOM date-times (DT) and timezone offsets as moments in time (PS3.5 Table 6.2-1, PS3.4
C.2.2.2.5.3): a value names every instant from its first to its last at its precision
(``2024`` is the whole year), in its own offset or else in the one it is read in.

Moments are naive ``datetime`` values in UTC, as PostgreSQL's ``timestamp`` compares them.
"""

from __future__ import annotations

import datetime
import re

OFFSET = re.compile(r"([+-])([01]\d|2[0-3])([0-5]\d)", re.ASCII)
_DT = re.compile(
    r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", re.ASCII
)
# The length of a value's last given part, by its place: day, hour, minute, second.
_STEPS = {
    2: datetime.timedelta(days=1),
    3: datetime.timedelta(hours=1),
    4: datetime.timedelta(minutes=1),
    5: datetime.timedelta(seconds=1),
}


def offset_minutes(text: str) -> int | None:
    """``+HHMM`` / ``-HHMM`` in minutes east of UTC; None when it is no offset."""
    found = OFFSET.fullmatch(text)
    if found is None:
        return None
    sign = -1 if found.group(1) == "-" else 1
    return sign * (int(found.group(2)) * 60 + int(found.group(3)))


def first_instant(value: str, default_offset: int | None) -> datetime.datetime:
    """The first instant a DT value names, in UTC; ``ValueError`` when it names none."""
    start, _, offset = _read(value, default_offset)
    return _shifted(start, offset)


def last_instant(value: str, default_offset: int | None) -> datetime.datetime:
    """The last instant (to the microsecond) a DT value names, in UTC."""
    start, groups, offset = _read(value, default_offset)
    try:
        end = _end_of_precision(start, groups) - datetime.timedelta(microseconds=1)
    except (OverflowError, ValueError):  # the end of year 9999
        return datetime.datetime.max
    return _shifted(end, offset)


def moved(moment: datetime.datetime, minutes: int) -> datetime.datetime:
    """``moment`` later by ``minutes`` (earlier when negative), held at the ends of time."""
    try:
        return moment + datetime.timedelta(minutes=minutes)
    except OverflowError:
        return datetime.datetime.max if minutes > 0 else datetime.datetime.min


def _read(
    value: str, default_offset: int | None
) -> tuple[datetime.datetime, tuple[str | None, ...], int]:
    found = _DT.fullmatch(value)
    if found is None:
        raise ValueError(f"{value!r} is not a DT value")
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    start = datetime.datetime(
        int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
        int(second or 0), int((fraction or "0").ljust(6, "0")),
    )  # fmt: skip
    offset = default_offset or 0
    if zone is not None:
        zone_minutes = offset_minutes(zone)
        if zone_minutes is None:
            raise ValueError(f"{zone!r} is not a timezone offset")
        offset = zone_minutes
    return start, found.groups(), offset


def _end_of_precision(
    start: datetime.datetime, groups: tuple[str | None, ...]
) -> datetime.datetime:
    """The instant after the last one that a value of this precision names."""
    fraction = groups[6]
    if fraction is not None:
        return start + datetime.timedelta(microseconds=10 ** (6 - len(fraction)))
    precision = max(i for i, group in enumerate(groups[:6]) if group is not None)
    if precision in _STEPS:
        return start + _STEPS[precision]
    if precision == 1:  # a month
        return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def _shifted(local: datetime.datetime, offset: int) -> datetime.datetime:
    try:
        return local - datetime.timedelta(minutes=offset)
    except OverflowError:  # within a day of year 1 or 9999: the far end of time
        return datetime.datetime.min if offset > 0 else datetime.datetime.max
