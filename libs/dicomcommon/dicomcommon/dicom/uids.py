"""UID validation (PS3.5 §9.1) before a UID touches a storage key or a query."""

from __future__ import annotations

import re

from dicomcommon.errors import DicomwebError

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def is_valid_uid(value: str) -> bool:
    """True for a UID of at most 64 characters made of dot-separated numbers without leading 0."""
    return 0 < len(value) <= 64 and _UID.match(value) is not None


def is_safe_uid(value: str) -> bool:
    """Lenient form accepted on read paths: digits and dots only (legacy leading zeros allowed)."""
    return 0 < len(value) <= 64 and all(c.isdigit() or c == "." for c in value)


def require_uid(value: str, name: str) -> str:
    """Return ``value`` if it can be used as a UID in a path, else raise a 400."""
    if not is_safe_uid(value):
        raise DicomwebError(f"{name} is not a valid UID: {value[:80]!r}")
    return value
