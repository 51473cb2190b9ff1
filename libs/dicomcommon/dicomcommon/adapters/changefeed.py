"""Change-feed entries as clients see them, shared by the HTTP feed (QIDO) and the push relay
(indexer) so both speak one schema: ``docs/changefeed-entry.schema.json``.

The field names are those of Microsoft's DICOM server (``sequence``, ``studyInstanceUid``, …),
so its clients read our feed unchanged. Pushed entries go to the ``DICOM_FEED`` stream on
``dicom.feed.create`` / ``.update`` / ``.delete`` with ``Nats-Msg-Id`` = ``sequence``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
import orjson

from dicomcommon.adapters.events import FeedAction
from dicomcommon.web import publicbase

# PostgreSQL NOTIFY channel raised when feed rows commit (migration 0003).
NOTIFY_CHANNEL = "dicom_change_feed"


def subject(prefix: str, action: str) -> str:
    """``dicom.feed.create`` / ``.update`` / ``.delete``: subscribers filter by action."""
    return f"{prefix}.{FeedAction(action).value.lower()}"


def entry(
    row: asyncpg.Record | Mapping[str, Any], replacement: bytes | None, state: str | None = None
) -> dict[str, Any]:
    """One entry; ``metadata`` when the row carries it (never for deletes) and ``replacement``
    (the public base for BulkDataURIs) is given; ``state`` only where it is known (HTTP)."""
    out: dict[str, Any] = {
        "sequence": row["sequence"],
        "studyInstanceUid": row["study_instance_uid"],
        "seriesInstanceUid": row["series_instance_uid"],
        "sopInstanceUid": row["sop_instance_uid"],
        "action": row["action"],
        "timestamp": row["timestamp"].isoformat(),
    }
    if row.get("sop_class_uid") is not None:  # feed rows written before 0016 may lack it
        out["sopClassUid"] = row["sop_class_uid"]
    if state is not None:
        out["state"] = state
    text = row.get("metadata")  # absent when not selected
    if replacement is not None and text is not None:
        out["metadata"] = orjson.Fragment(publicbase.resolve_bulk_uris(text.encode(), replacement))
    return out


def encode(entries: Iterable[dict[str, Any]] | dict[str, Any]) -> bytes:
    """JSON bytes of one entry or a list of them (metadata fragments are written as they are)."""
    return orjson.dumps(entries if isinstance(entries, dict) else list(entries))
