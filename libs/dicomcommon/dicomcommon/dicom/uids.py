"""UID validation (PS3.5 §9.1) before a UID touches a storage key or a query."""

from __future__ import annotations

import re
from functools import lru_cache

from pydicom.uid import UID

from dicomcommon.errors import DicomwebError

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_SAFE_UID = re.compile(r"[0-9.]{1,64}")  # ASCII only: str.isdigit() also takes "²" and "٣"


def is_valid_uid(value: str) -> bool:
    """True for a UID of at most 64 characters made of dot-separated numbers without leading 0."""
    return 0 < len(value) <= 64 and _UID.match(value) is not None


def is_safe_uid(value: str) -> bool:
    """Lenient form accepted on read paths: digits and dots only (legacy leading zeros allowed)."""
    return _SAFE_UID.fullmatch(value) is not None


def require_uid(value: str, name: str) -> str:
    """Return ``value`` if it can be used as a UID in a path, else raise a 400."""
    if not is_safe_uid(value):
        raise DicomwebError(f"{name} is not a valid UID: {value[:80]!r}")
    return value


@lru_cache(maxsize=64)
def transfer_syntax(value: str) -> UID:
    """pydicom's UID for a transfer syntax, built once per value: constructing one validates
    it, a noticeable share of reading a small instance's header (a bounded cache: a client may
    send any text)."""
    return UID(value)


@lru_cache(maxsize=64)
def walkable_syntax(value: str) -> tuple[bool, bool]:
    """(Little endian, not deflated: the header walk reads it; Implicit VR) of a transfer
    syntax, answered once per value."""
    uid = transfer_syntax(value)
    walkable = uid.is_transfer_syntax and uid.is_little_endian and not uid.is_deflated
    return walkable, bool(walkable and uid.is_implicit_VR)
