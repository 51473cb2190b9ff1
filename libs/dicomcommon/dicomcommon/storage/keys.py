"""Blob keys: the one check every backend applies before a key touches a path or a URL.

A key is a relative ``/``-separated path of segments from ``[A-Za-z0-9._-]`` that never start
with a dot, so ``..``, absolute paths and hidden files (our temp files) cannot be named.
"""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")


class InvalidBlobKey(ValueError):
    """A key that could escape the store's root or name something that is not a blob.

    A ``ValueError``, not a 4xx: keys are built from validated UIDs, so this is a bug.
    """


def check_key(key: str) -> str:
    """Return ``key`` unchanged when it is a valid blob key, else raise ``InvalidBlobKey``."""
    segments = key.split("/")
    if not key or not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise InvalidBlobKey(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` when it can start a valid key (it may end in ``/`` or be empty)."""
    if not _PREFIX.fullmatch(prefix) or prefix.startswith("/") or ".." in prefix.split("/"):
        raise InvalidBlobKey(f"invalid blob key prefix {prefix!r}")
    return prefix


def check_range(start: int, length: int | None) -> None:
    """Reject negative ranges; a range past the end of a blob is valid and reads nothing."""
    if start < 0 or (length is not None and length < 0):
        raise ValueError(f"invalid byte range start={start} length={length}")
