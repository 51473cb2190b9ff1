"""Parked commands: what the index could not take waits in ``parked_command`` for an operator.

A command whose application fails with an error that is not an outage (a value the schema
refuses, a limit it exceeds, a bug) would otherwise be redelivered for ever and hold back its
batch-mates. It is parked instead, answered ``failed`` to its STOW / DELETE caller, and kept
with the error so an operator can list it and retry it once the cause is fixed.
"""

from __future__ import annotations

import asyncpg
import orjson
from prometheus_client import Counter

from dicomcommon.adapters.bus import OUTAGE_ERRORS as NATS_OUTAGES
from dicomcommon.adapters.db import OUTAGE_ERRORS as POSTGRES_OUTAGES
from dicomcommon.adapters.events import DeleteRequested, InstanceStored
from dicomcommon.errors import BackendUnavailable

PARKED = Counter("dicomweb_indexer_commands_parked_total", "Ingest commands parked as failed")
UNPARKED = Counter("dicomweb_indexer_commands_unparked_total", "Parked commands applied on retry")

# Errors that a retry of the same command cures once the backing service is back: an outage,
# a serialization failure or deadlock, a server short of resources or shutting down.
_TRANSIENT: tuple[type[BaseException], ...] = (
    BackendUnavailable,
    *POSTGRES_OUTAGES,
    *NATS_OUTAGES,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
)

_PARK = """
INSERT INTO parked_command (command_id, stream_sequence, kind, study_instance_uid,
    sop_instance_uid, blob_key, metadata_key, command, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (command_id) DO UPDATE SET error = EXCLUDED.error,
    attempts = parked_command.attempts + 1, parked_at = now()
"""
UNPARK = "DELETE FROM parked_command WHERE command_id = ANY($1::text[])"
LIST = """
SELECT command_id, stream_sequence, kind, study_instance_uid, sop_instance_uid, error,
    attempts, parked_at
FROM parked_command ORDER BY parked_at, command_id LIMIT $1
"""
_COMMAND = "SELECT stream_sequence, command FROM parked_command WHERE command_id = $1"


def is_outage(exc: BaseException) -> bool:
    """True for errors that heal by themselves; a ``DataError`` is an ``InterfaceError`` to
    asyncpg but an argument no retry cures."""
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, asyncpg.DataError)


def describe(exc: BaseException) -> str:
    """The error as an operator and the STOW caller read it (bounded: values can be huge)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


async def park(
    conn: asyncpg.Connection,
    sequence: int,
    event: InstanceStored | DeleteRequested,
    error: str,
) -> None:
    """Keep ``event`` with its error; a command parked again counts one more attempt."""
    store = isinstance(event, InstanceStored)
    blob_key = event.blob_key if isinstance(event, InstanceStored) else None
    metadata_key = event.metadata_key if isinstance(event, InstanceStored) else None
    if store and metadata_key is not None:  # keep the command light: its metadata is a blob
        event = event.model_copy(update={"metadata": {}, "frames": [], "bulk_data": {}})
    await conn.execute(
        _PARK, event.command_id, sequence, event.kind, event.study_instance_uid,
        event.sop_instance_uid, blob_key, metadata_key, event.model_dump_json(), error,
    )  # fmt: skip


async def parked_command(
    conn: asyncpg.Connection, command_id: str
) -> tuple[int, InstanceStored | DeleteRequested] | None:
    """A parked command as (stream sequence, event), or None when none has this id."""
    row = await conn.fetchrow(_COMMAND, command_id)
    if row is None:
        return None
    data = orjson.loads(row[1])
    model = InstanceStored if data.get("kind") == "store" else DeleteRequested
    event = model.model_validate({**data, "reply_subject": None})
    return int(row[0]), event
