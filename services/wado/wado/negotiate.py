"""What WADO-RS resources offer (PS3.18 §8.7.3): single part or ``multipart/related;
type=…; transfer-syntax=…``, and the transfer syntax each media type means by default. The
Accept list itself is read by ``dicomcommon.web.negotiation``.

A resource describes what it can send as an ``Offer``; ``choices`` turns the request into the
acceptable ``Choice``s, best first. Whether a choice suits a given stored instance (can it be
transcoded?) is the caller's question, asked per instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dicomcommon.dicom import mediatypes
from dicomcommon.errors import NotAcceptable
from dicomcommon.web import negotiation
from dicomcommon.web.multipart import MediaType

AS_STORED = negotiation.AS_STORED
MULTIPART = "multipart/related"


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


def choices(request: Request, offer: Offer) -> list[Choice]:
    """The acceptable representations of a resource, best first; 406 when there is none."""
    try:
        return negotiation.negotiate(request, lambda media_type: _resolve(media_type, offer))
    except NotAcceptable:
        raise NotAcceptable(
            f"none of the acceptable media types is offered: {offer.media_types}"
        ) from None


def _resolve(media_type: MediaType, offer: Offer) -> Choice | None:
    if media_type.essence == "*/*":
        return offer.wildcard
    if media_type.essence in (MULTIPART, "multipart/*"):
        if not offer.multipart:
            return None
        inner = media_type.params.get("type", "").strip().lower() or offer.media_types[0]
        return _inner(inner, negotiation.transfer_syntax_of(media_type), True, offer)
    if not offer.single_part:
        return None
    return _inner(media_type.essence, negotiation.transfer_syntax_of(media_type), False, offer)


def _inner(inner: str, syntax: str | None, multipart: bool, offer: Offer) -> Choice | None:
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
