"""The fast path for the common case: new instances that nothing in the index knows yet.

One look-up for the whole batch finds which stores are plain inserts (no row, no tombstone,
once in the batch); those are written with pipelined statements instead of a round trip per
statement per instance. Everything else (re-stores, conflicts, deletes) takes ``apply``'s
per-command path, in stream order, after this.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import asyncpg
import orjson

from dicomcommon import studyaccess
from dicomcommon.adapters.events import FeedAction, InstanceStored, Outcome, OutcomeStatus
from indexer import apply

Store = tuple[int, int, InstanceStored]  # (position in batch, stream sequence, event)

# One round trip: SOP Instance UIDs the index knows (rows or tombstones), and deleted scopes.
_KNOWN = """
SELECT sop_instance_uid FROM instance WHERE sop_instance_uid = ANY($1::text[])
UNION SELECT sop_instance_uid FROM tombstone WHERE sop_instance_uid = ANY($1::text[])
UNION SELECT scope_uid FROM scope_tombstone WHERE scope_uid = ANY($2::text[])
"""
# ``apply.INSERT_INSTANCE`` for a batch: its rows as one array per column (``instance_row``).
_INSERT_INSTANCES = """
INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
    instance_number, transfer_syntax_uid, number_of_frames, rows, columns, blob_key, size,
    sha256, metadata, metadata_text, frames, bulk_data, version, summary)
SELECT sop, series, study, sop_class, number, syntax, frame_count, row_count, column_count,
    blob_key, size, sha256, text::jsonb, text, frames::jsonb, bulk_data::jsonb, version, summary
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[],
    $8::int[], $9::int[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::text[],
    $15::text[], $16::bigint[], $17::text[])
    AS r(sop, series, study, sop_class, number, syntax, frame_count, row_count, column_count,
        blob_key, size, sha256, text, frames, bulk_data, version, summary)
ON CONFLICT (sop_instance_uid) DO NOTHING
RETURNING sop_instance_uid, blob_key
"""


async def plain_inserts(conn: asyncpg.Connection, stores: list[Store]) -> list[Store]:
    """The stores that can be bulk-inserted: unknown SOP Instance UIDs, once in the batch,
    outside any deleted study or series (those go through the tombstone checks), into
    studies that every store of the batch reaches with the same access groups (stores of
    uploaders with different groups into one study go in stream order, one by one)."""
    alone = once_and_alike(stores)
    sops = [ev.sop_instance_uid for _, _, ev in alone]
    scopes = {ev.study_instance_uid for _, _, ev in alone}
    scopes |= {ev.series_instance_uid for _, _, ev in alone}
    known = {r[0] for r in await conn.fetch(_KNOWN, sops, list(scopes))}  # UIDs never collide
    return [
        (i, seq, ev)
        for i, seq, ev in alone
        if ev.sop_instance_uid not in known
        and ev.study_instance_uid not in known
        and ev.series_instance_uid not in known
    ]


def once_and_alike(stores: list[Store]) -> list[Store]:
    """The stores a batch can insert set-based as far as the batch itself tells: their SOP
    Instance UID once in the batch, their study reached with the same access groups by every
    store of the batch (the index decides the rest: see ``plain_inserts``)."""
    counts = Counter(ev.sop_instance_uid for _, _, ev in stores)
    access: defaultdict[str, set[tuple[object, ...]]] = defaultdict(set)
    for _, _, ev in stores:
        access[ev.study_instance_uid].add(_access_key(ev))
    return [
        (i, seq, ev)
        for i, seq, ev in stores
        if counts[ev.sop_instance_uid] == 1 and len(access[ev.study_instance_uid]) == 1
    ]


def _access_key(ev: InstanceStored) -> tuple[object, ...]:
    uploader = None if ev.uploader_groups is None else tuple(ev.uploader_groups)
    return tuple(ev.access_groups), uploader


async def insert(
    conn: asyncpg.Connection, stores: list[Store], work: apply.BatchWork
) -> dict[int, Outcome]:
    """Insert the plain stores; returns the outcome of each one that was inserted here (one
    that another replica inserted meanwhile is left for the per-command path)."""
    studies = {ev.study_instance_uid: ev for _, _, ev in stores}  # newest instance wins
    # Rows are locked in UID order, so batches applied side by side (consumer loops, replicas)
    # that share studies wait for each other instead of deadlocking.
    await conn.executemany(
        apply.UPSERT_STUDY, [apply.study_row(studies[k]) for k in sorted(studies)]
    )
    outcomes: dict[int, Outcome] = {}
    refused = await _refused_studies(conn, studies)
    if refused:
        for i, seq, ev in stores:
            if ev.study_instance_uid in refused:
                outcomes[i] = apply.refuse(ev, seq, work)
        stores = [s for s in stores if s[2].study_instance_uid not in refused]
    series = {ev.series_instance_uid: ev for _, _, ev in stores}
    await conn.executemany(
        apply.UPSERT_SERIES, [apply.series_row(series[k]) for k in sorted(series)]
    )
    texts = [apply.metadata_text(ev) for _, _, ev in stores]
    rows = [
        apply.instance_row(seq, ev, text) for (_, seq, ev), text in zip(stores, texts, strict=True)
    ]
    # One statement for the whole batch; it returns the rows it wrote (another replica's
    # insert of the same UID meanwhile leaves it to the per-command path).
    inserted = await conn.fetch(_INSERT_INSTANCES, *columns(rows))
    written = {(r["sop_instance_uid"], r["blob_key"]) for r in inserted}
    for (i, seq, ev), text in zip(stores, texts, strict=True):
        if (ev.sop_instance_uid, ev.blob_key) in written:
            apply.record(work, FeedAction.CREATE, seq, ev, text)
            stored = OutcomeStatus.STORED
            outcomes[i] = Outcome(command_id=ev.command_id, status=stored, sequence=seq)
    return outcomes


_JSON_COLUMNS = (13, 14)  # frames and bulk_data: JSON text (a list would read as an array)


def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """``instance_row`` tuples as the arrays ``_INSERT_INSTANCES`` takes, one per column."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for index in _JSON_COLUMNS:
        columns[index] = [orjson.dumps(value).decode() for value in columns[index]]
    return columns


_GROUPS = """
SELECT study_instance_uid, access_groups FROM study WHERE study_instance_uid = ANY($1::text[])
"""


async def _refused_studies(
    conn: asyncpg.Connection, studies: dict[str, InstanceStored]
) -> set[str]:
    """The studies (rows now locked by the upsert) whose groups the uploader is outside of;
    one study's stores share their groups here (``plain_inserts``). A study this batch
    created has the uploader's groups, so it is never refused."""
    limited = {
        uid: ev.uploader_groups for uid, ev in studies.items() if ev.uploader_groups is not None
    }
    if not limited:
        return set()
    rows = await conn.fetch(_GROUPS, sorted(limited))
    return {r[0] for r in rows if not studyaccess.shares_group(r[1], limited[r[0]])}
