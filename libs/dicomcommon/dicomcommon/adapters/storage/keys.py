"""Blob keys: the name format of stored instances and the one check every backend applies.

Stored instances live under ``studies/{s}/series/{se}/instances/{i}/{ms}-{uuid}.dcm``. Every
write gets a new key (a version never overwrites another), and the key starts with the write
time in milliseconds, so the orphan sweeper can tell a blob's age from its name alone. An
ingest command too large for NATS keeps its metadata next to the instance, under the same name
ending in ``.json``; the sweeper removes it by age, like an orphan, once it is applied.

Any key is a relative ``/``-separated path of segments from ``[A-Za-z0-9._-]`` that never start
with a dot, so ``..``, absolute paths and hidden files (our temp files) cannot be named.
"""

from __future__ import annotations

import re
import time
import uuid

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PREFIX = re.compile(r"[A-Za-z0-9._/-]*")
_NAME = re.compile(r"/(\d{13})-[0-9a-f]{32}\.(dcm|json)$")


class InvalidBlobKey(ValueError):
    """A key that could escape the store's root or name something that is not a blob.

    A ``ValueError``, not a 4xx: keys are built from validated UIDs, so this is a bug.
    """


def new_key(instance_path: str) -> str:
    """A fresh versioned key for an instance's blob, under its ``resources.instance_path``."""
    return f"{instance_path}/{time.time_ns() // 1_000_000:013d}-{uuid.uuid4().hex}.dcm"


def metadata_key(blob_key: str) -> str:
    """Where an oversized command's metadata goes: beside its instance's blob."""
    return blob_key.removesuffix(".dcm") + ".json"


def written_at(key: str) -> float | None:
    """When the blob was written (seconds since the epoch), or None for a foreign key."""
    match = _NAME.search(key)
    return int(match.group(1)) / 1000 if match else None


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
