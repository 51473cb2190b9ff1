"""Blob keys of stored instances: ``studies/{s}/series/{se}/instances/{i}/{ms}-{uuid}.dcm``.

Every write gets a new key (a version never overwrites another), and the key starts with the
write time in milliseconds, so the orphan sweeper can tell a blob's age from its name alone.
An ingest command too large for NATS keeps its metadata next to the instance, under the same
name ending in ``.json``; the sweeper removes it by age, like an orphan, once it is applied.
"""

from __future__ import annotations

import re
import time
import uuid

_NAME = re.compile(r"/(\d{13})-[0-9a-f]{32}\.(dcm|json)$")


def new_key(instance_path: str) -> str:
    return f"{instance_path}/{time.time_ns() // 1_000_000:013d}-{uuid.uuid4().hex}.dcm"


def metadata_key(blob_key: str) -> str:
    """Where an oversized command's metadata goes: beside its instance's blob."""
    return blob_key.removesuffix(".dcm") + ".json"


def written_at(key: str) -> float | None:
    """When the blob was written (seconds since the epoch), or None for a foreign key."""
    match = _NAME.search(key)
    return int(match.group(1)) / 1000 if match else None
