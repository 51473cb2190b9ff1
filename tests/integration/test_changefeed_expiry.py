"""The push relay on a feed stream whose entries expire (``DICOMWEB_NATS_FEED_MAX_AGE_SECONDS``):
once every message has aged out, a restarted relay still publishes what comes next."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import nats
import orjson
import pytest

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances
from tests.integration import changefeed_client as feed
from tests.polling import eventually

pytestmark = pytest.mark.integration

STREAM = "DICOM_FEED"
MAX_AGE_SECONDS = 2


@pytest.fixture(scope="module")
def short_lived_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("expiry"))
    environ = {**os.environ, "DICOMWEB_NATS_FEED_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS)}
    with Stack(settings, environ=environ) as running:
        yield running


def _store(stack: Stack, count: int) -> int:
    for _ in range(count):
        assert feed.store(stack.dicomweb_url, instances.fresh()).status_code == 200
    return feed.latest_sequence(stack.dicomweb_url)


async def _published(stack: Stack) -> tuple[int, int]:
    """(messages the stream holds, the newest one's feed sequence or 0)."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        if not info.state.messages:
            return 0, 0
        message = await js.get_last_msg(STREAM, "dicom.feed.>")
        return info.state.messages, orjson.loads(message.data or b"{}")["sequence"]
    finally:
        await nc.close()


def test_relay_publishes_after_every_message_expired_and_a_restart(
    short_lived_feed: Stack,
) -> None:
    stack = short_lived_feed
    first = _store(stack, 2)
    assert eventually(lambda: asyncio.run(_published(stack))[1] == first)
    assert eventually(lambda: asyncio.run(_published(stack))[0] == 0)  # aged out
    stack.kill("indexer")
    stack.restart("indexer")
    latest = _store(stack, 1)
    assert eventually(lambda: asyncio.run(_published(stack))[1] == latest)
