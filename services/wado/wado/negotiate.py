"""Content negotiation for WADO-RS (PS3.18 §8.7): Accept media ranges with q-values, the
``accept`` query parameter, ``multipart/related; type=…; transfer-syntax=…`` and defaults.

A resource describes what it can send as an ``Offer``; ``choices`` turns the request into the
acceptable ``Choice``s, best first. Whether a choice suits a given stored instance (can it be
transcoded?) is the caller's question, asked per instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dicomcommon import mediatypes, multipart
from dicomcommon.errors import DicomwebError, NotAcceptable
from dicomcommon.multipart import MediaType
from dicomcommon.uids import is_safe_uid

AS_STORED = "*"
MULTIPART = "multipart/related"


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header."""

    media_type: MediaType
    q: float


@dataclass(frozen=True)
class Choice:
    """A representation the client accepts: single part or multipart, the (part) media type,
    and the transfer syntax (a UID, or ``*`` for the bytes as stored)."""

    multipart: bool
    media_type: str
    transfer_syntax: str

    @property
    def as_stored(self) -> bool:
        return self.transfer_syntax == AS_STORED


@dataclass(frozen=True)
class Offer:
    """What a resource can send. ``media_types[0]`` is its default; ``wildcard`` is what
    ``*/*`` (or a missing Accept) means for it."""

    media_types: tuple[str, ...]
    wildcard: Choice
    single_part: bool = False
    multipart: bool = True


def accept_values(request: Request) -> list[str]:
    """The ``accept`` query parameter takes precedence over the header (PS3.18 §8.3.3.1)."""
    values = request.query_params.getlist("accept")
    if values:
        return values
    header = request.headers.getlist("accept")
    return header or ["*/*"]


def parse_accept(values: list[str]) -> list[MediaRange]:
    """Parse media ranges, best q first (stable: equal q keep the client's order)."""
    ranges: list[MediaRange] = []
    for value in values:
        for item in multipart.split_unquoted(value, ","):
            if not item.strip():
                continue
            media_type = MediaType.parse(item)
            q = _quality(media_type.params.get("q", "1"))
            ranges.append(MediaRange(media_type, q))
    return sorted(ranges, key=lambda r: -r.q)


def choices(request: Request, offer: Offer) -> list[Choice]:
    """The acceptable representations of a resource, best first; 406 when there is none."""
    found = [
        c
        for r in parse_accept(accept_values(request))
        if r.q > 0 and (c := _resolve(r.media_type, offer)) is not None
    ]
    if not found:
        raise NotAcceptable(f"none of the acceptable media types is offered: {offer.media_types}")
    return found


def _resolve(media_type: MediaType, offer: Offer) -> Choice | None:
    if media_type.essence == "*/*":
        return offer.wildcard
    if media_type.essence in (MULTIPART, "multipart/*"):
        if not offer.multipart:
            return None
        inner = media_type.params.get("type", "").strip().lower() or offer.media_types[0]
        return _inner(inner, media_type.params.get("transfer-syntax"), True, offer)
    if not offer.single_part:
        return None
    return _inner(media_type.essence, media_type.params.get("transfer-syntax"), False, offer)


def _inner(inner: str, syntax: str | None, multipart: bool, offer: Offer) -> Choice | None:
    if syntax is not None and syntax != AS_STORED and not is_safe_uid(syntax):
        raise DicomwebError(f"transfer-syntax is not a UID: {syntax[:80]!r}")
    if inner.endswith("/*"):
        if inner == "*/*" and syntax is None:
            return Choice(multipart, offer.wildcard.media_type, offer.wildcard.transfer_syntax)
        matching = [t for t in offer.media_types if inner == "*/*" or t.startswith(inner[:-1])]
        if not matching:
            return None
        inner = matching[0]
    if inner not in offer.media_types:
        return None
    return Choice(multipart, inner, syntax or mediatypes.default_syntax(inner) or AS_STORED)


def _quality(value: str) -> float:
    try:
        q = float(value)
    except ValueError:
        raise DicomwebError(f"invalid q-value in Accept: {value[:20]!r}") from None
    if not 0 <= q <= 1:
        raise DicomwebError(f"q-value out of range in Accept: {value[:20]!r}")
    return q
