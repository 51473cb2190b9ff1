"""Push delivery of the change feed: the relay publishes every committed entry to the
``DICOM_FEED`` JetStream stream exactly once and in order, across consumer disconnects,
indexer kills and lost bookkeeping; Server-Sent Events deliver entries over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx
import nats
import nats.errors
import orjson
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from dicomstack.stack import Stack
from tests import instances
from tests.integration import changefeed_client as feed

pytestmark = pytest.mark.integration

STREAM = "DICOM_FEED"


async def _store_some(url: str, count: int) -> set[str]:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(count)]
    for ds in datasets:
        response = await asyncio.to_thread(feed.store, url, ds)
        assert response.status_code == 200, response.text
    return {ds.SOPInstanceUID for ds in datasets}


async def _drain(sub: JetStreamContext.PullSubscription, until: int) -> list[feed.Entry]:
    """Fetch and ack until the entry with sequence ``until`` arrived (or 30 s passed)."""
    received: list[feed.Entry] = []
    deadline = time.monotonic() + 30
    while (not received or received[-1]["sequence"] < until) and time.monotonic() < deadline:
        try:
            messages = await sub.fetch(100, timeout=1)
        except nats.errors.TimeoutError:
            continue
        for message in messages:
            entry = orjson.loads(message.data)
            feed.validate(entry)
            assert message.headers is not None
            assert message.headers["Nats-Msg-Id"] == str(entry["sequence"])
            assert message.subject == f"dicom.feed.{entry['action'].lower()}"
            received.append(entry)
            await message.ack()
    return received


async def _stream_sequences(js: JetStreamContext) -> list[int]:
    """Every entry's sequence as the stream holds it, in stream order."""
    info = await js.stream_info(STREAM)
    return [
        orjson.loads((await js.get_msg(STREAM, seq=s)).data or b"{}")["sequence"]
        for s in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def _wait_relayed(js: JetStreamContext, latest: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = await js.stream_info(STREAM)
        if info.state.last_seq and (await _stream_sequences(js))[-1] >= latest:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the relay did not reach sequence {latest}")


async def test_consumer_that_disconnects_and_resumes_gets_every_entry_once_in_order(
    stack: Stack,
) -> None:
    url, durable = stack.dicomweb_url, f"test-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    config = ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.ALL)
    sub = await js.pull_subscribe("dicom.feed.>", durable=durable, stream=STREAM, config=config)
    first = await _store_some(url, 5)
    received = await _drain(sub, await asyncio.to_thread(feed.latest_sequence, url))
    await nc.close()  # the subscriber goes away while more is stored
    second = await _store_some(url, 5)
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    sub = await js.pull_subscribe_bind(durable, STREAM)
    latest = await asyncio.to_thread(feed.latest_sequence, url)
    received += await _drain(sub, latest)
    await js.delete_consumer(STREAM, durable)
    await nc.close()
    assert [e["sequence"] for e in received] == list(range(1, latest + 1))
    assert first | second <= {e["sopInstanceUid"] for e in received}


async def test_relay_survives_an_indexer_kill_without_loss_or_duplicates(stack: Stack) -> None:
    url = stack.dicomweb_url
    await _store_some(url, 5)
    await asyncio.to_thread(stack.kill, "indexer")
    await asyncio.to_thread(stack.restart, "indexer")
    await _store_some(url, 3)
    latest = await asyncio.to_thread(feed.latest_sequence, url)
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    await _wait_relayed(js, latest)
    assert await _stream_sequences(js) == list(range(1, latest + 1))
    await nc.close()


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "restarted"])
async def test_lost_relay_bookkeeping_republishes_nothing(stack: Stack, restart: bool) -> None:
    """A crash between publish and bookkeeping leaves ``feed_relay`` behind the stream; the
    stream must not get the entries twice (message-id dedupe, and the stream's own position
    after a restart)."""
    url = stack.dicomweb_url
    await _store_some(url, 4)
    latest = await asyncio.to_thread(feed.latest_sequence, url)
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    await _wait_relayed(js, latest)
    conn = await asyncpg.connect(stack.postgres_url)
    await conn.execute("UPDATE feed_relay SET last_sequence = $1", latest - 3)
    await conn.close()
    if restart:
        await asyncio.to_thread(stack.restart, "indexer")
    await _store_some(url, 1)
    latest = await asyncio.to_thread(feed.latest_sequence, url)
    await _wait_relayed(js, latest)
    assert await _stream_sequences(js) == list(range(1, latest + 1))
    await nc.close()


def _events(response: httpx.Response, want: set[str]) -> list[tuple[int, feed.Entry]]:
    """(id, entry) of each event until every SOP Instance UID in ``want`` was seen."""
    events, event_id, seen = [], 0, set()
    for line in response.iter_lines():
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            entry = orjson.loads(line[6:])
            feed.validate(entry)
            events.append((event_id, entry))
            seen.add(entry["sopInstanceUid"])
            if want <= seen:
                break
    return events


def test_server_sent_events_deliver_new_entries_and_resume_by_last_event_id(
    stack: Stack,
) -> None:
    url = stack.dicomweb_url
    before = feed.latest_sequence(url)
    ds, other = instances.fresh(), instances.fresh()
    stream_url = f"{url}/changefeed/stream"
    with httpx.stream("GET", stream_url, params={"after": before}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert feed.store(url, ds).status_code == 200  # stored while the client listens
        assert feed.store(url, other).status_code == 200
        events = _events(response, {ds.SOPInstanceUID, other.SOPInstanceUID})
    assert [e["sequence"] for _, e in events] == list(range(before + 1, before + 3))
    assert [i for i, _ in events] == [e["sequence"] for _, e in events]
    assert events[0][1]["metadata"]["00080018"]["Value"] == [ds.SOPInstanceUID]
    resume = {"Last-Event-ID": str(before + 1)}
    with httpx.stream("GET", stream_url, headers=resume, timeout=30) as response:
        [(event_id, entry)] = _events(response, {other.SOPInstanceUID})
    assert event_id == before + 2
    assert entry["sopInstanceUid"] == other.SOPInstanceUID
