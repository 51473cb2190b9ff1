"""The bus against a real nats-server that cannot give it its streams: it keeps retrying, and
never holds more than one connection while it does."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import RetentionPolicy

from dicomcommon.adapters import bus
from dicomcommon.settings import NatsSettings
from dicomstack.ports import free_ports
from dicomstack.processes import binary

_RETRY_WINDOW_SECONDS = 4.5


@pytest.fixture
def nats_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(client URL, monitoring URL) of a nats-server, with JetStream when the test asks."""
    port, monitor = free_ports("127.0.0.1", 2)
    argv = [binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
    if getattr(request, "param", False):
        argv += ["-js", "-sd", str(tmp_path)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monitoring = f"http://127.0.0.1:{monitor}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{monitoring}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield f"nats://127.0.0.1:{port}", monitoring
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
async def started_bus(nats_server: tuple[str, str]) -> AsyncIterator[bus.Bus]:
    connection = bus.Bus(NatsSettings(url=nats_server[0]), name="test-bus")
    connection.start()
    try:
        yield connection
    finally:
        await connection.close()


def _connections(monitoring: str) -> int:
    count: int = httpx.get(f"{monitoring}/connz", timeout=5).json()["num_connections"]
    return count


async def test_without_jetstream_the_bus_retries_on_one_connection_at_most(
    nats_server: tuple[str, str], started_bus: bus.Bus
) -> None:
    most = 0
    for _ in range(int(_RETRY_WINDOW_SECONDS / 0.25)):
        await asyncio.sleep(0.25)
        most = max(most, await asyncio.to_thread(_connections, nats_server[1]))
    assert not started_bus.connected.is_set()
    assert most <= 1
    await started_bus.close()
    assert await asyncio.to_thread(_connections, nats_server[1]) == 0


@pytest.mark.parametrize("nats_server", [True], indirect=True)
async def test_a_stream_update_refused_leaves_no_connection_behind(
    nats_server: tuple[str, str],
) -> None:
    settings = NatsSettings(url=nats_server[0])
    blocker = await nats.connect(settings.url)
    wrong = bus.ingest_stream(settings)
    wrong.retention = RetentionPolicy.LIMITS  # retention cannot be changed by an update
    await blocker.jetstream().add_stream(wrong)
    await blocker.close()
    connection = bus.Bus(settings, name="test-bus")
    connection.start()
    try:
        await asyncio.sleep(_RETRY_WINDOW_SECONDS)
        assert not connection.connected.is_set()
        assert await asyncio.to_thread(_connections, nats_server[1]) <= 1
    finally:
        await connection.close()
