"""The one-call path for new instances (``newinstances``, migration 0023) against real
PostgreSQL: it writes exactly what the per-command path writes for the same batch, and it
leaves every other case to that path without writing anything."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.adapters.events import InstanceStored, OutcomeStatus
from indexer import newinstances
from indexer.batch import Command, apply_batch, apply_per_command

pytestmark = pytest.mark.integration

_PRIVATE_TAG = "00711010"  # a private tag of its own, so no other test's batch indexes it
_CREATOR = "ONE CALL TEST"


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _store(sop: str, study: str, series: str, modality: str, **extra: Any) -> InstanceStored:
    metadata = {
        "00080060": {"vr": "CS", "Value": [modality]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"Doe^{modality}"}]},
        "00081030": {"vr": "LO", "Value": [f"about {modality}"]},
        "00200013": {"vr": "IS", "Value": [3]},
        "00280010": {"vr": "US", "Value": [512]},
        "00710010": {"vr": "LO", "Value": [_CREATOR]},
        _PRIVATE_TAG: {"vr": "LO", "Value": [f"value {modality}"]},
    }
    return InstanceStored(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
        series_instance_uid=series, sop_instance_uid=sop, sop_class_uid=f"1.2.3.{len(modality)}",
        transfer_syntax_uid="1.2.840.10008.1.2.1", blob_key=f"test/{uuid.uuid4().hex}",
        size=10, sha256="b" * 64, metadata=metadata, frames=[], **extra,
    )  # fmt: skip


def _batch(first_version: int) -> list[Command]:
    """Two studies, three series, five instances, versions not in batch order."""
    a, b = _uid(), _uid()
    series = [(a, _uid(), "CT"), (a, _uid(), "MR"), (b, _uid(), "US")]
    events = [_store(_uid(), st, se, m) for st, se, m in [*series, *series[:2]]]
    versions = [first_version + n for n in (3, 0, 4, 1, 2)]
    return list(zip(versions, events, strict=True))


_TABLES = {  # table: the UID column that picks the batch's rows
    "study": "study_instance_uid",
    "series": "study_instance_uid",
    "instance": "sop_instance_uid",
    "change_feed": "sop_instance_uid",
    "extended_tag_instance": "sop_instance_uid",
}
_VARYING = {"sequence", "timestamp", "updated_at", "created_at"}  # when, not what


def _uids(commands: list[Command], column: str) -> list[str]:
    return sorted({getattr(ev, column) for _, ev in commands})


async def _snapshot(pool: asyncpg.Pool, commands: list[Command]) -> dict[str, list[Any]]:
    """Every row the batch wrote, without the columns that say when (feed rows in order)."""
    found: dict[str, list[Any]] = {}
    for table, column in _TABLES.items():
        order = "sequence" if table == "change_feed" else "1"
        statement = f"SELECT * FROM {table} WHERE {column} = ANY($1::text[]) ORDER BY {order}"
        rows = await db.fetch(pool, statement, _uids(commands, column))
        kept = [{k: v for k, v in r.items() if k not in _VARYING} for r in rows]
        found[table] = kept if table == "change_feed" else sorted(kept, key=repr)
    return found


async def _forget(pool: asyncpg.Pool, commands: list[Command]) -> None:
    async with db.connection(pool) as conn:
        for table, column in reversed(_TABLES.items()):
            statement = f"DELETE FROM {table} WHERE {column} = ANY($1::text[])"
            await conn.execute(statement, _uids(commands, column))


@pytest.fixture
async def private_tag(pool: asyncpg.Pool) -> Any:
    """A ready extended query tag (instance level), removed afterwards."""
    async with db.connection(pool) as conn:
        await conn.execute(
            "INSERT INTO extended_query_tag (path, vr, private_creator, level, status,"
            " query_status) VALUES ($1, 'LO', $2, 'Instance', 'Ready', 'Enabled')",
            _PRIVATE_TAG, _CREATOR,
        )  # fmt: skip
    yield
    await db.fetch(pool, "DELETE FROM extended_query_tag WHERE path = $1", _PRIVATE_TAG)


@pytest.mark.usefixtures("private_tag")
async def test_one_call_writes_what_the_per_command_path_writes(pool: asyncpg.Pool) -> None:
    commands = _batch(7_100_000)
    stored = await apply_per_command(pool, commands)
    expected = await _snapshot(pool, commands)
    await _forget(pool, commands)
    one_call = await newinstances.apply_new(pool, commands)
    assert one_call == stored
    assert await _snapshot(pool, commands) == expected
    assert len(expected["extended_tag_instance"]) == len(commands)  # the tag was indexed
    versions = [row["version"] for row in expected["change_feed"]]
    assert versions == sorted(versions)


async def test_a_batch_with_a_known_instance_is_left_to_the_per_command_path(
    pool: asyncpg.Pool,
) -> None:
    commands = _batch(7_200_000)
    await apply_batch(pool, commands[:1])
    again = [(7_200_010, commands[0][1].model_copy(update={"blob_key": "test/other"}))]
    assert await newinstances.apply_new(pool, [*commands[1:], *again]) is None
    assert len((await _snapshot(pool, commands))["instance"]) == 1  # nothing written
    outcomes = await apply_batch(pool, [*commands[1:], *again])
    assert [o.status for o in outcomes][-1] is OutcomeStatus.DUPLICATE


async def test_a_study_refusing_its_uploader_rolls_the_call_back(pool: asyncpg.Pool) -> None:
    study, series = _uid(), _uid()
    owner = _store(_uid(), study, series, "CT", access_groups=["cardio"])
    await apply_batch(pool, [(7_300_000, owner)])
    stranger = _store(_uid(), study, _uid(), "MR", uploader_groups=["neuro"])
    newcomer = _store(_uid(), _uid(), _uid(), "US")
    commands: list[Command] = [(7_300_001, newcomer), (7_300_002, stranger)]
    before = await _snapshot(pool, [(0, owner)])
    assert await newinstances.apply_new(pool, commands) is None
    assert await _snapshot(pool, [(0, owner)]) == before  # the owner's study as it was
    assert await _snapshot(pool, [(0, newcomer)]) == {table: [] for table in _TABLES}
    outcomes = await apply_batch(pool, commands)
    assert [o.status for o in outcomes] == [OutcomeStatus.STORED, OutcomeStatus.REFUSED]
