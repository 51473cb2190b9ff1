"""The common case in one round trip: a batch of stores of instances the index has never seen.

``ingest_new_instances`` (migration 0023) writes such a batch in one call, in the implicit
transaction of that one statement: no ``BEGIN`` and ``COMMIT`` round trips, no statement per
level. Every value it writes is computed here, by the functions the per-command path uses
(``apply.study_row``, ``series_row``, ``instance_row``), and the statements both paths share
are handed to it (``apply.UPSERT_STUDIES``, ``UPSERT_SERIES_MANY``, ``recounts.BOTH``,
``tagindexing.STORED``), so the rules keep their one home; the function only writes them.

Anything else (a delete, a store the index knows, two stores of one instance, stores into one
study with different access groups, a study that refuses its uploader, an instance another
replica inserted meanwhile) makes the call write nothing, and the batch takes the
per-command path (``batch``), which answers every such case.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import orjson

from dicomcommon.adapters import db
from dicomcommon.adapters.events import DeleteRequested, InstanceStored, Outcome, OutcomeStatus
from indexer import apply, bulk, parking, recounts, tagindexing

log = logging.getLogger(__name__)

Command = tuple[int, InstanceStored | DeleteRequested]  # as ``batch.Command``

_CALL = f"SELECT ingest_new_instances({', '.join(f'${n}' for n in range(1, 44))})"
_STUDY_JSON = (11, 12, 13)  # attributes, access and uploader groups (no arrays of arrays)
_SERIES_JSON = (7,)  # attributes


async def apply_new(pool: asyncpg.Pool, commands: list[Command]) -> list[Outcome] | None:
    """The outcomes of ``commands`` applied in one call, or ``None`` when the batch is not
    only new instances (nothing written then)."""
    stores = [
        (i, seq, ev) for i, (seq, ev) in enumerate(commands) if isinstance(ev, InstanceStored)
    ]
    if len(stores) != len(commands):
        return None
    if len(bulk.once_and_alike(stores)) != len(stores):
        return None
    try:
        async with db.connection(pool) as conn:
            inserted = await conn.fetchval(_CALL, *arguments(stores))
    except Exception as exc:
        if parking.is_outage(exc):
            raise
        log.info("batch not applied in one call (%s); applying it command by command", exc)
        return None
    if inserted is None:
        return None
    return [
        Outcome(command_id=ev.command_id, status=OutcomeStatus.STORED, sequence=seq)
        for _, seq, ev in stores
    ]


def arguments(stores: list[bulk.Store]) -> list[Any]:
    """The call's 43 arguments: study, series and instance columns, then the statements.
    One row per study and per series (the batch's newest instance's, as the per-command
    path leaves them), sorted by UID."""
    studies = {ev.study_instance_uid: ev for _, _, ev in stores}
    series = {ev.series_instance_uid: ev for _, _, ev in stores}
    study_rows = [apply.study_row(studies[k]) for k in sorted(studies)]
    series_rows = [apply.series_row(series[k]) for k in sorted(series)]
    instance_rows = [apply.instance_row(seq, ev, apply.metadata_text(ev)) for _, seq, ev in stores]
    return [
        *_as_json(_transpose(study_rows), _STUDY_JSON),
        *_as_json(_transpose(series_rows), _SERIES_JSON),
        *bulk.columns(instance_rows),
        tagindexing.STORED,
        apply.UPSERT_STUDIES,
        apply.UPSERT_SERIES_MANY,
        recounts.BOTH,
    ]


def _transpose(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _as_json(columns: list[list[Any]], indexes: tuple[int, ...]) -> list[list[Any]]:
    """The columns at ``indexes`` as JSON text (``None`` stays NULL)."""
    for index in indexes:
        columns[index] = [None if v is None else orjson.dumps(v).decode() for v in columns[index]]
    return columns
