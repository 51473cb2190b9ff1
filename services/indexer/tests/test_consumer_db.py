"""The ingest consumer against real NATS JetStream and PostgreSQL, on streams of its own: a
command on its last delivery is parked before it is tried, so a replica dying while applying
it once more leaves it where an operator sees it (JetStream will not deliver it again); a
request's group of stores is one message, applied in transactions of about ``batch_size``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import Bus
from dicomcommon.adapters.events import InstancesStored, InstanceStored, encode
from dicomcommon.adapters.storage import BlobStore
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.settings import NatsSettings, PostgresSettings
from dicomstack.stack import Stack
from indexer.batch import apply_batch
from indexer.consumer import IngestConsumer
from indexer.migrate import migrate
from indexer.settings import Settings

pytestmark = pytest.mark.integration


@dataclass
class _Rig:
    consumer: IngestConsumer
    bus: Bus
    pool: asyncpg.Pool
    postgres_url: str


@pytest.fixture
async def rig(stack: Stack) -> AsyncIterator[_Rig]:
    tag = uuid.uuid4().hex[:8]
    nats_settings = NatsSettings(
        url=stack.nats_url, ingest_stream=f"TEST_INGEST_{tag}", feed_stream=f"TEST_FEED_{tag}",
        ingest_subject_prefix=f"test.ingest.{tag}", feed_subject_prefix=f"test.feed.{tag}",
    )  # fmt: skip
    settings = Settings(
        postgres=PostgresSettings(url=stack.postgres_url), nats=nats_settings,
        consumer_name="test", max_deliveries=2, ack_wait_seconds=1, batch_size=5,
    )  # fmt: skip
    pool = await db.create_pool(settings.postgres)
    async with db.connection(pool) as conn:
        await migrate(conn)
    bus = Bus(nats_settings, "test")
    bus.start()
    await asyncio.wait_for(bus.connected.wait(), 10)
    blobs: BlobStore = await open_store(stack.storage)
    try:
        yield _Rig(IngestConsumer(settings, pool, bus, blobs), bus, pool, stack.postgres_url)
    finally:
        _, js = bus.require()
        for stream in (nats_settings.ingest_stream, nats_settings.feed_stream):
            await js.delete_stream(stream)
        await bus.close()
        await blobs.close()
        await pool.close()


def _uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _store(study: str, series: str) -> InstanceStored:
    return InstanceStored(
        command_id=uuid.uuid4().hex, request_id="test", study_instance_uid=study,
        series_instance_uid=series, sop_instance_uid=_uid(),
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2", transfer_syntax_uid="1.2.840.10008.1.2.1",
        blob_key=f"test/{uuid.uuid4().hex}", size=10, sha256="a" * 64,
        metadata={"00100020": {"vr": "LO", "Value": ["PID"]}},
    )  # fmt: skip


async def _parked_error(pool: asyncpg.Pool, command_id: str) -> str | None:
    row = await db.fetchrow(
        pool, "SELECT error FROM parked_command WHERE command_id = $1", command_id
    )
    return None if row is None else str(row[0])


async def test_a_command_on_its_last_delivery_stays_parked_if_its_replica_dies(rig: _Rig) -> None:
    study, series = _uid(), _uid()
    await apply_batch(rig.pool, [(1, _store(study, series))])  # the study row exists
    event = _store(study, series)
    s = rig.consumer.settings
    _, js = rig.bus.require()
    await js.add_consumer(s.nats.ingest_stream, rig.consumer._consumer_config())
    sub = await js.pull_subscribe(
        f"{s.nats.ingest_subject_prefix}.>", durable=s.consumer_name, stream=s.nats.ingest_stream
    )
    await rig.bus.publish(
        f"{s.nats.ingest_subject_prefix}.store", event.model_dump_json().encode(), event.command_id
    )
    await sub.fetch(1, timeout=5)  # delivery 1 goes to a replica that dies: never acknowledged
    locker = await asyncpg.connect(rig.postgres_url)
    try:
        async with locker.transaction():  # the study row is held: applying the command waits
            await locker.execute(
                "SELECT 1 FROM study WHERE study_instance_uid = $1 FOR UPDATE", study
            )
            [last] = await sub.fetch(1, timeout=10)  # after ack_wait: the last delivery
            assert last.metadata.num_delivered == s.max_deliveries
            handling = asyncio.create_task(rig.consumer._handle([last]))
            for _ in range(100):
                if await _parked_error(rig.pool, event.command_id):
                    break
                await asyncio.sleep(0.1)
            assert not handling.done()  # parked, and still waiting to apply it
            handling.cancel()  # this replica dies too, while applying it
            with pytest.raises(asyncio.CancelledError):
                await handling
    finally:
        await locker.close()
    error = await _parked_error(rig.pool, event.command_id)
    assert error == f"delivered {s.max_deliveries} times without being applied"


async def test_groups_of_stores_are_applied_in_transactions_of_about_the_batch_size(
    rig: _Rig,
) -> None:
    """Three requests of four instances: three messages. With ``batch_size`` 5 the first two
    groups go in one transaction and the third in another (never 12 instances at once, nor
    a group split), and every message is acknowledged."""
    s = rig.consumer.settings
    _, js = rig.bus.require()
    await js.add_consumer(s.nats.ingest_stream, rig.consumer._consumer_config())
    sub = await js.pull_subscribe(
        f"{s.nats.ingest_subject_prefix}.>", durable=s.consumer_name, stream=s.nats.ingest_stream
    )
    study = _uid()
    groups = [[_store(study, _uid()) for _ in range(4)] for _ in range(3)]
    for group in groups:
        payload = InstancesStored.frame([encode(event) for event in group])
        await rig.bus.publish(f"{s.nats.ingest_subject_prefix}.store", payload, uuid.uuid4().hex)
    msgs = await sub.fetch(3, timeout=5)
    assert len(msgs) == 3
    await rig.consumer._handle(msgs)
    sops = [event.sop_instance_uid for group in groups for event in group]
    rows = await db.fetch(
        rig.pool,
        "SELECT sop_instance_uid, version, xmin::text AS tx FROM instance"
        " WHERE sop_instance_uid = ANY($1::text[])",
        sops,
    )
    assert {r["sop_instance_uid"] for r in rows} == set(sops)
    by_sop = {r["sop_instance_uid"]: r for r in rows}
    transactions = [{by_sop[e.sop_instance_uid]["tx"] for e in group} for group in groups]
    assert all(len(tx) == 1 for tx in transactions)  # a group is never split
    assert transactions[0] == transactions[1] != transactions[2]
    versions = [{by_sop[e.sop_instance_uid]["version"] for e in group} for group in groups]
    assert all(len(v) == 1 for v in versions)  # a group's stores share its stream sequence
    info = await js.consumer_info(s.nats.ingest_stream, s.consumer_name)
    assert info.num_ack_pending == 0 and rig.consumer.applied == 12


async def test_a_message_that_is_not_json_is_dropped_and_the_next_store_applied(
    rig: _Rig,
) -> None:
    """Commands are parsed by orjson before pydantic validates them: bytes that are not JSON
    are a malformed command like one that fails validation (dropped, never parked or retried),
    and the store published after it is applied."""
    s = rig.consumer.settings
    _, js = rig.bus.require()
    await js.add_consumer(s.nats.ingest_stream, rig.consumer._consumer_config())
    sub = await js.pull_subscribe(
        f"{s.nats.ingest_subject_prefix}.>", durable=s.consumer_name, stream=s.nats.ingest_stream
    )
    event = _store(_uid(), _uid())
    subject = f"{s.nats.ingest_subject_prefix}.store"
    await rig.bus.publish(subject, b"\xff not json", uuid.uuid4().hex)
    await rig.bus.publish(subject, encode(event), event.command_id)
    msgs = await sub.fetch(2, timeout=5)
    assert len(msgs) == 2
    await rig.consumer._handle(msgs)
    row = await db.fetchrow(
        rig.pool, "SELECT blob_key FROM instance WHERE sop_instance_uid = $1",
        event.sop_instance_uid,
    )  # fmt: skip
    assert row is not None and row["blob_key"] == event.blob_key
    assert await _parked_error(rig.pool, event.command_id) is None
    info = await js.consumer_info(s.nats.ingest_stream, s.consumer_name)
    assert info.num_ack_pending == 0 and rig.consumer.applied == 1
