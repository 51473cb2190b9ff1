"""Numbers and booleans in request parameters and paths, read in one place.

``str.isdigit`` says yes to ``²`` and full-width digits, which ``int`` then refuses (a 500) or
reads; ``float`` reads Arabic-Indic digits and ``1e999``; an unbounded integer overflows
PostgreSQL's 64-bit columns. Here a number is ASCII only, short and bounded, and anything else
is an ``InvalidQuery`` (400) naming the parameter. Text reaches SQL only without NUL, which
PostgreSQL's text cannot hold (it would refuse the statement: a 500).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from dicomcommon.errors import InvalidQuery

MAX_BIGINT = 2**63 - 1  # PostgreSQL bigint, and so every LIMIT / OFFSET / sequence
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?", re.ASCII)
_MAX_NUMBER_LENGTH = 64
_MAX_INSTANT_LENGTH = 64


def integer(name: str, text: str, *, low: int = 0, high: int = MAX_BIGINT) -> int:
    """``text`` as an integer from ``low`` to ``high``; surrounding spaces are allowed."""
    stripped = text.strip()
    if not _INTEGER.fullmatch(stripped) or not low <= int(stripped) <= high:
        raise InvalidQuery(f"{name} must be an integer from {low} to {high}, not {text[:40]!r}")
    return int(stripped)


def optional_integer(
    name: str, text: str | None, default: int, *, low: int = 0, high: int = MAX_BIGINT
) -> int:
    """Like ``integer``; absent or empty gives ``default``."""
    if text is None or text.strip() == "":
        return default
    return integer(name, text, low=low, high=high)


def integers(name: str, text: str, *, most: int, low: int = 0, high: int = MAX_BIGINT) -> list[int]:
    """A comma-separated list of at most ``most`` integers (frame lists and the like)."""
    items = text.split(",", most)
    if len(items) > most:
        raise InvalidQuery(f"{name} lists more than {most} values")
    return [integer(name, item, low=low, high=high) for item in items]


def is_integer(text: str) -> bool:
    """Whether ``text`` is a bounded ASCII integer, as ``integer`` would read it."""
    stripped = text.strip()
    return bool(_INTEGER.fullmatch(stripped)) and abs(int(stripped)) <= MAX_BIGINT


def number(name: str, text: str) -> float:
    """A finite decimal number in ASCII (``1``, ``-2.5``, ``.5``, ``1e3``)."""
    stripped = text.strip()
    if len(stripped) > _MAX_NUMBER_LENGTH or not _NUMBER.fullmatch(stripped):
        raise InvalidQuery(f"{name} must be a number: {text[:40]!r}")
    value = float(stripped)
    if not math.isfinite(value):
        raise InvalidQuery(f"{name} must be a finite number: {text[:40]!r}")
    return value


def is_number(text: str) -> bool:
    """Whether ``text`` is a finite ASCII decimal number, as ``number`` would read it."""
    try:
        number("", text)
    except InvalidQuery:
        return False
    return True


def boolean(name: str, text: str | None, default: bool) -> bool:
    """``true`` or ``false`` in any case; absent or empty gives ``default``."""
    if text is None or text.strip() == "":
        return default
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidQuery(f"{name} must be true or false, not {text[:40]!r}")
    return lowered == "true"


def instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time in ASCII; no offset means UTC; absent or empty is None.
    A ``+`` sent unencoded in a query arrives as a space, so a space is read back as ``+``."""
    if not text:
        return None
    candidate = text.strip().replace(" ", "+")
    try:
        if not candidate.isascii() or len(candidate) > _MAX_INSTANT_LENGTH:
            raise ValueError(candidate)
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidQuery(f"{name} must be an ISO 8601 date-time, not {text[:40]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def by_lowered_name(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters by lower-cased name, values stripped (names bind case-insensitively, as
    ASP.NET binds Microsoft's); NUL refused as in ``texts``."""
    return {name.lower(): value.strip() for name, value in texts(params)}


def texts(params: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of a request, refused when a name or value holds NUL
    (U+0000): no DICOM value does, and PostgreSQL's text cannot."""
    pairs = list(params)
    for name, value in pairs:
        if "\0" in name or "\0" in value:
            raise InvalidQuery(f"parameter {name[:40]!r} holds a NUL character")
    return pairs
