"""The indexer's backlog gauges over the real stack: what waits in the ingest stream, in the
change feed before the relay, and in the blob clean-up queue, as the indexer's /metrics shows."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import nats
import pytest

from dicomstack.stack import Stack
from indexer import backlog
from tests import instances
from tests.polling import eventually

pytestmark = pytest.mark.integration
GAUGES = (
    "dicomweb_ingest_pending_commands",
    "dicomweb_ingest_oldest_command_age_seconds",
    "dicomweb_feed_relay_pending_entries",
    "dicomweb_feed_relay_lag_seconds",
    "dicomweb_blob_cleanup_pending_blobs",
    "dicomweb_blob_cleanup_retrying_blobs",
)


def _scraped(stack: Stack) -> dict[str, float]:
    text = httpx.get(f"{stack.service_urls['indexer'][0]}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            found[name] = float(value)
    return found


async def test_blobs_waiting_for_clean_up_show_on_the_indexer_metrics(stack: Stack) -> None:
    assert set(_scraped(stack)) == set(GAUGES)
    keys = [f"backlog-test/{uuid.uuid4().hex}" for _ in range(3)]
    conn = await asyncpg.connect(stack.postgres_url)
    try:  # not due for an hour and failed once: the clean-up leaves them queued
        await conn.executemany(
            "INSERT INTO blob_cleanup (blob_key, due_at, attempts)"
            " VALUES ($1, now() + interval '1 hour', 1)",
            [(key,) for key in keys],
        )
        assert eventually(
            lambda: _scraped(stack)["dicomweb_blob_cleanup_retrying_blobs"] >= 3, seconds=40
        )
    finally:
        await conn.execute("DELETE FROM blob_cleanup WHERE blob_key = ANY($1::text[])", keys)
        await conn.close()


async def test_ingest_commands_not_yet_applied_are_counted_with_their_age(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    stream, prefix = f"BACKLOG_{uuid.uuid4().hex}", f"backlog.{uuid.uuid4().hex}"
    try:  # a stream of its own that no indexer consumes: the commands stay pending
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        for n in range(3):
            await js.publish(f"{prefix}.store", b"{}", headers={"Nats-Msg-Id": str(n)})
        await backlog.measure_ingest(js, stream, f"{prefix}.>")
        assert backlog.INGEST_PENDING._value.get() == 3
        assert 0 <= backlog.INGEST_AGE._value.get() < 60
        await js.purge_stream(stream)
        await backlog.measure_ingest(js, stream, f"{prefix}.>")
        assert backlog.INGEST_PENDING._value.get() == 0
        assert backlog.INGEST_AGE._value.get() == 0
        await js.delete_stream(stream)
    finally:
        await nc.close()


async def test_feed_rows_the_relay_has_not_published_are_the_relay_lag(stack: Stack) -> None:
    pool = await asyncpg.create_pool(stack.postgres_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as holder, holder.transaction():
            # the relay records its position in this row: while it is locked here, the
            # recorded position stays behind what the relay published
            await holder.fetchval("SELECT last_sequence FROM feed_relay FOR UPDATE")
            body = instances.to_bytes(instances.fresh())
            assert instances.store(stack.dicomweb_url, body).status_code == 200
            await backlog.measure_database(pool)
            assert backlog.FEED_PENDING._value.get() >= 1
            assert backlog.FEED_AGE._value.get() > 0
        await backlog.measure_database(pool)  # measured again once the relay caught up
        assert eventually(lambda: _scraped(stack)["dicomweb_feed_relay_pending_entries"] == 0)
    finally:
        await pool.close()
