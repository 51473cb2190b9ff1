"""Content negotiation for every DICOMweb answer (PS3.18 §8.7, §8.3.3.1; RFC 9110 §12.5.1).

The one Accept parser: media ranges split outside quoted strings, ``q`` between 0 and 1 (a bad
or out-of-range value is a 400), best q first with ties in the client's order, ``q=0`` never
chosen, and the ``accept`` query parameter taking precedence over the header where PS3.18
defines it (retrieve and search, not store). Each service says what a range means for it with
a ``resolve`` function; WADO's transfer-syntax offers build on ``transfer_syntax_of``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from dicomcommon.dicom.uids import is_safe_uid
from dicomcommon.errors import DicomwebError, NotAcceptable
from dicomcommon.web.multipart import MediaType, split_unquoted

AS_STORED = "*"  # ``transfer-syntax=*``: the bytes as stored (PS3.18 §8.7.3.5.2)
_QVALUE = re.compile(r"[01](\.[0-9]{0,3})?")  # RFC 9110 §12.4.2, ASCII digits only
T = TypeVar("T")


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept list (shared by the requests that sent the same list: read
    only)."""

    media_type: MediaType
    q: float

    def covers(self, essence: str) -> bool:
        """Whether the range names ``essence`` itself, ``type/*`` of it, or ``*/*``."""
        mine = self.media_type.essence
        return mine in ("*/*", essence) or (mine.endswith("/*") and essence.startswith(mine[:-1]))


def accept_values(request: Request, query_parameter: bool = True) -> list[str]:
    """The Accept values of a request; every ``accept`` query parameter takes precedence over
    the header (PS3.18 §8.3.3.1) where the resource defines it. None means ``*/*``."""
    asked = query_parameter and request.scope.get("query_string")
    values = request.query_params.getlist("accept") if asked else []
    values = [v for v in values or request.headers.getlist("accept") if v.strip()]
    return values or ["*/*"]


def parse_accept(values: list[str]) -> list[MediaRange]:
    """Parse media ranges, best q first (stable: equal q keep the client's order). Clients
    send the same few Accept values again and again: short ones are parsed once each."""
    if sum(len(v) for v in values) > _REMEMBERED_LENGTH:
        return list(_parse(tuple(values)))
    return list(_parse_remembered(tuple(values)))


_REMEMBERED_LENGTH = 256  # longer Accept values are parsed each time, not kept


def _parse(values: tuple[str, ...]) -> tuple[MediaRange, ...]:
    ranges: list[MediaRange] = []
    for value in values:
        for item in split_unquoted(value, ","):
            if not item.strip():
                continue
            media_type = MediaType.parse(item)
            ranges.append(MediaRange(media_type, _quality(media_type.params.get("q", "1"))))
    return tuple(sorted(ranges, key=lambda r: -r.q))


# (a bad value raises, and is not kept)
_parse_remembered = functools.lru_cache(maxsize=512)(_parse)


def acceptable(ranges: list[MediaRange], resolve: Callable[[MediaType], T | None]) -> list[T]:
    """What the ranges with ``q > 0`` resolve to, best first (``resolve``: None = not offered)."""
    return [c for r in ranges if r.q > 0 and (c := resolve(r.media_type)) is not None]


def negotiate(
    request: Request, resolve: Callable[[MediaType], T | None], query_parameter: bool = True
) -> list[T]:
    """The acceptable representations of a resource, best first; 406 when there is none."""
    found = acceptable(parse_accept(accept_values(request, query_parameter)), resolve)
    if not found:
        accept = ", ".join(accept_values(request, query_parameter))
        raise NotAcceptable(f"none of the acceptable media types is offered: {accept[:120]!r}")
    return found


def transfer_syntax_of(media_type: MediaType) -> str | None:
    """The ``transfer-syntax`` parameter: a UID, ``*``, or None when absent; 400 otherwise."""
    syntax = media_type.params.get("transfer-syntax")
    if syntax is not None and syntax != AS_STORED and not is_safe_uid(syntax):
        raise DicomwebError(f"transfer-syntax is not a UID: {syntax[:80]!r}")
    return syntax


def _quality(value: str) -> float:
    if not _QVALUE.fullmatch(value):
        raise DicomwebError(f"invalid q-value in Accept: {value[:20]!r}")
    q = float(value)
    if q > 1:
        raise DicomwebError(f"q-value out of range in Accept: {value[:20]!r}")
    return q
