"""What JetStream keeps is bounded (``DICOMWEB_NATS_*_MAX_BYTES``): the streams of the running
stack carry their bounds; an indexed command leaves the ingest work queue; past its bound the
change feed drops its oldest entries, and a full work queue refuses a publish as an outage (a
503 for STOW) rather than dropping what it holds."""

from __future__ import annotations

import asyncio
import uuid

import nats
import nats.js.errors
import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

from dicomcommon.adapters.bus import DUPLICATE_WINDOW_SECONDS, Bus
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import NatsSettings
from dicomstack.stack import Stack
from tests import instances
from tests.polling import eventually

pytestmark = pytest.mark.integration
DEFAULTS = NatsSettings()


async def _stream_configs(nats_url: str) -> dict[str, StreamConfig]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        names = (DEFAULTS.ingest_stream, DEFAULTS.feed_stream, DEFAULTS.audit_stream)
        return {name: (await js.stream_info(name)).config for name in names}
    finally:
        await nc.close()


def test_every_stream_of_the_stack_is_bounded_by_its_setting(stack: Stack) -> None:
    configs = asyncio.run(_stream_configs(stack.nats_url))
    ingest, feed, audit = (configs[n] for n in configs)
    assert (ingest.retention, ingest.discard) == (RetentionPolicy.WORK_QUEUE, DiscardPolicy.NEW)
    assert ingest.max_bytes == DEFAULTS.ingest_max_bytes
    assert (audit.retention, audit.discard) == (RetentionPolicy.WORK_QUEUE, DiscardPolicy.NEW)
    assert audit.max_bytes == DEFAULTS.audit_max_bytes
    assert (feed.retention, feed.discard) == (RetentionPolicy.LIMITS, DiscardPolicy.OLD)
    assert feed.max_bytes == DEFAULTS.feed_max_bytes
    assert feed.max_age == DEFAULTS.feed_max_age_seconds
    for config in (ingest, feed, audit):
        assert config.duplicate_window == DUPLICATE_WINDOW_SECONDS


async def _ingest_range(nats_url: str) -> tuple[int, int]:
    nc = await nats.connect(nats_url)
    try:
        state = (await nc.jetstream().stream_info(DEFAULTS.ingest_stream)).state
        return state.first_seq, state.last_seq
    finally:
        await nc.close()


async def _held(nats_url: str, sequences: range) -> list[int]:
    """Which of ``sequences`` the ingest stream still holds."""
    nc = await nats.connect(nats_url)
    try:
        js, held = nc.jetstream(), []
        for sequence in sequences:
            try:
                await js.get_msg(DEFAULTS.ingest_stream, sequence)
            except nats.js.errors.NotFoundError:
                continue
            held.append(sequence)
        return held
    finally:
        await nc.close()


def test_a_stored_and_indexed_command_leaves_the_ingest_work_queue(stack: Stack) -> None:
    _, before = asyncio.run(_ingest_range(stack.nats_url))
    response = instances.store(stack.dicomweb_url, instances.to_bytes(instances.fresh()))
    assert response.status_code == 200, response.text  # 200: the indexer committed it
    _, after = asyncio.run(_ingest_range(stack.nats_url))
    published = range(before + 1, after + 1)
    assert published
    assert eventually(lambda: not asyncio.run(_held(stack.nats_url, published)))


def _private_streams(max_bytes: int) -> NatsSettings:
    """Streams of their own beside the stack's, small enough to fill in a test."""
    tag = uuid.uuid4().hex[:8].upper()
    return NatsSettings(
        ingest_stream=f"TEST_INGEST_{tag}",
        ingest_subject_prefix=f"test.{tag}.ingest",
        feed_stream=f"TEST_FEED_{tag}",
        feed_subject_prefix=f"test.{tag}.feed",
        audit_stream=f"TEST_AUDIT_{tag}",
        audit_subject_prefix=f"test.{tag}.audit",
        ingest_max_bytes=max_bytes,
        feed_max_bytes=max_bytes,
        audit_max_bytes=max_bytes,
    )


async def _fill(nats_url: str, settings: NatsSettings, messages: int) -> tuple[int, int, int]:
    """Publish ``messages`` of 1 KiB to the feed and the ingest queue; (feed messages held,
    feed bytes held, ingest publishes accepted before the first refusal)."""
    bus = Bus(settings.model_copy(update={"url": nats_url}), "stream-limits-test")
    bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 30)
        payload, accepted = b"x" * 1024, 0
        for n in range(messages):
            await bus.publish(f"{settings.feed_subject_prefix}.create", payload, f"f{n}")
        for n in range(messages):
            try:
                await bus.publish(f"{settings.ingest_subject_prefix}.store", payload, f"i{n}")
            except BackendUnavailable:
                break
            accepted += 1
        _, js = bus.require()
        feed = (await js.stream_info(settings.feed_stream)).state
        for name in (settings.ingest_stream, settings.feed_stream, settings.audit_stream):
            await js.delete_stream(name)
        return feed.messages, feed.bytes, accepted
    finally:
        await bus.close()


def test_past_its_bound_the_feed_drops_its_oldest_and_a_work_queue_refuses(stack: Stack) -> None:
    settings = _private_streams(max_bytes=64 << 10)
    held, held_bytes, accepted = asyncio.run(_fill(stack.nats_url, settings, messages=100))
    assert 0 < held < 100 and held_bytes <= 64 << 10  # the newest entries, within the bound
    assert 0 < accepted < 100  # then a refusal: an outage to the publisher, nothing dropped
