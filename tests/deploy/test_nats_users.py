"""The NATS of Compose and the dev overlay (deploy/compose/nats.conf, generated), run by the real
nats-server: the services' user may do what the services do; a change-feed subscriber reads the
feed through its own consumer and can neither publish commands nor read the ingest stream."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from dicomcommon.settings import NatsSettings
from dicomstack import deploy
from dicomstack.nats import MAX_PAYLOAD
from dicomstack.ports import free_ports
from dicomstack.processes import binary
from tests.deploy.manifests import ROOT

PASSWORDS = {"NATS_SERVICES_PASSWORD": "services-secret", "NATS_FEED_PASSWORD": "feed-secret"}


@pytest.fixture(scope="module")
def nats_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The committed configuration, moved to free loopback ports and a temporary store."""
    folder = tmp_path_factory.mktemp("nats")
    port, monitor = free_ports("127.0.0.1", 2)
    text = (ROOT / "deploy/compose/nats.conf").read_text()
    text = text.replace('"0.0.0.0:4222"', f'"127.0.0.1:{port}"')
    text = text.replace('"0.0.0.0:8222"', f'"127.0.0.1:{monitor}"')
    text = text.replace('"/data"', json.dumps(str(folder)))
    config = folder / "nats.conf"
    config.write_text(text)
    env = {**os.environ, **PASSWORDS}
    with (folder / "nats.log").open("wb") as log:
        server = subprocess.Popen([binary("nats-server"), "-c", str(config)], env=env, stderr=log)
    try:
        _wait(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert server.poll() is None, "nats-server exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def test_committed_config_is_the_generated_one_with_the_tests_limits() -> None:
    assert (ROOT / "deploy/compose/nats.conf").read_text() == deploy.nats_conf()
    assert deploy.nats_server_config()["max_payload"] == MAX_PAYLOAD  # stock NATS


async def test_feed_subscriber_reads_the_feed_and_nothing_else(nats_port: int) -> None:
    settings = NatsSettings()
    url = f"nats://127.0.0.1:{nats_port}"
    services = await nats.connect(
        url, user="dicomweb", password=PASSWORDS["NATS_SERVICES_PASSWORD"]
    )
    feed = await nats.connect(url, user="feed", password=PASSWORDS["NATS_FEED_PASSWORD"])
    try:
        js = services.jetstream()
        feed_subjects = [f"{settings.feed_subject_prefix}.>"]
        ingest_subjects = [f"{settings.ingest_subject_prefix}.>"]
        await js.add_stream(StreamConfig(name=settings.feed_stream, subjects=feed_subjects))
        await js.add_stream(StreamConfig(name=settings.ingest_stream, subjects=ingest_subjects))
        await js.publish(f"{settings.feed_subject_prefix}.created", b"1")

        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def keep(msg: nats.aio.msg.Msg) -> None:
            await received.put(msg.data)
            await msg.ack()

        subscriber = feed.jetstream()
        await subscriber.subscribe(
            f"{settings.feed_subject_prefix}.>", stream=settings.feed_stream, cb=keep
        )
        assert await asyncio.wait_for(received.get(), 5) == b"1"

        # The server refuses the consumer request, so no answer comes.
        with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
            await subscriber.subscribe(
                f"{settings.ingest_subject_prefix}.>", stream=settings.ingest_stream
            )
        errors: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)

        refused = await nats.connect(
            url,
            user="feed",
            password=PASSWORDS["NATS_FEED_PASSWORD"],
            error_cb=on_error,
        )
        await refused.publish(f"{settings.ingest_subject_prefix}.x", b"forged")
        await refused.flush()
        await asyncio.sleep(0.2)
        await refused.close()
        assert any("permissions violation" in str(e).lower() for e in errors), errors
        info = await js.stream_info(settings.ingest_stream)
        assert info.state.messages == 0
    finally:
        await feed.close()
        await services.close()


async def test_wrong_password_is_refused(nats_port: int) -> None:
    client = nats.NATS()
    try:
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await client.connect(
                f"nats://127.0.0.1:{nats_port}",
                user="feed",
                password="wrong",
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
    finally:
        await client.close()


def test_store_dir_placeholder_is_the_container_path() -> None:
    assert Path(deploy.nats_server_config()["jetstream"]["store_dir"]) == Path("/data")
