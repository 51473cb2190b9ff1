"""The fast path for the common case: new instances that nothing in the index knows yet.

One look-up for the whole batch finds which stores are plain inserts (no row, no tombstone,
once in the batch); those are written with pipelined statements instead of a round trip per
statement per instance. Everything else (re-stores, conflicts, deletes) takes ``apply``'s
per-command path, in stream order, after this.
"""

from __future__ import annotations

from collections import Counter

import asyncpg

from dicomcommon.events import FeedAction, InstanceStored, Outcome, OutcomeStatus
from indexer import apply

Store = tuple[int, int, InstanceStored]  # (position in batch, stream sequence, event)

# One round trip: SOP Instance UIDs the index knows (rows or tombstones), and deleted scopes.
_KNOWN = """
SELECT sop_instance_uid FROM instance WHERE sop_instance_uid = ANY($1::text[])
UNION SELECT sop_instance_uid FROM tombstone WHERE sop_instance_uid = ANY($1::text[])
UNION SELECT scope_uid FROM scope_tombstone WHERE scope_uid = ANY($2::text[])
"""
_INSERTED = """
SELECT sop_instance_uid, blob_key FROM instance WHERE sop_instance_uid = ANY($1::text[])
"""


async def plain_inserts(conn: asyncpg.Connection, stores: list[Store]) -> list[Store]:
    """The stores that can be bulk-inserted: unknown SOP Instance UIDs, once in the batch,
    outside any deleted study or series (those go through the tombstone checks)."""
    counts = Counter(ev.sop_instance_uid for _, _, ev in stores)
    sops = list(counts)
    scopes = {ev.study_instance_uid for _, _, ev in stores}
    scopes |= {ev.series_instance_uid for _, _, ev in stores}
    known = {r[0] for r in await conn.fetch(_KNOWN, sops, list(scopes))}  # UIDs never collide
    return [
        (i, seq, ev)
        for i, seq, ev in stores
        if counts[ev.sop_instance_uid] == 1
        and ev.sop_instance_uid not in known
        and ev.study_instance_uid not in known
        and ev.series_instance_uid not in known
    ]


async def insert(
    conn: asyncpg.Connection, stores: list[Store], work: apply.BatchWork
) -> dict[int, Outcome]:
    """Insert the plain stores; returns the outcome of each one that was inserted here (one
    that another replica inserted meanwhile is left for the per-command path)."""
    studies = {ev.study_instance_uid: ev for _, _, ev in stores}  # newest instance wins
    series = {ev.series_instance_uid: ev for _, _, ev in stores}
    # Rows are locked in UID order, so batches applied side by side (consumer loops, replicas)
    # that share studies wait for each other instead of deadlocking.
    await conn.executemany(
        apply.UPSERT_STUDY, [apply.study_row(studies[k]) for k in sorted(studies)]
    )
    await conn.executemany(
        apply.UPSERT_SERIES, [apply.series_row(series[k]) for k in sorted(series)]
    )
    texts = [apply.metadata_text(ev) for _, _, ev in stores]
    await conn.executemany(
        apply.INSERT_INSTANCE,
        [
            apply.instance_row(seq, ev, text)
            for (_, seq, ev), text in zip(stores, texts, strict=True)
        ],
    )
    rows = await conn.fetch(_INSERTED, [ev.sop_instance_uid for _, _, ev in stores])
    written = {(r["sop_instance_uid"], r["blob_key"]) for r in rows}
    outcomes: dict[int, Outcome] = {}
    for (i, seq, ev), text in zip(stores, texts, strict=True):
        if (ev.sop_instance_uid, ev.blob_key) in written:
            apply.record(work, FeedAction.CREATE, seq, ev, text)
            stored = OutcomeStatus.STORED
            outcomes[i] = Outcome(command_id=ev.command_id, status=stored, sequence=seq)
    return outcomes
