"""Nothing acknowledged is lost: SIGKILL the indexer during a batch of stores, restart it, and
every instance whose STOW was answered is indexed."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from dicomstack.stack import Stack
from tests import instances
from tests.polling import eventually

pytestmark = pytest.mark.integration


async def _store_all(stack: Stack, bodies: list[bytes]) -> list[int]:
    async with httpx.AsyncClient(timeout=120) as client:

        async def store(body: bytes) -> int:
            response = await client.post(
                f"{stack.dicomweb_url}/studies",
                content=body,
                headers={"Content-Type": "application/dicom"},
            )
            return response.status_code

        tasks = []
        for i, body in enumerate(bodies):
            tasks.append(asyncio.create_task(store(body)))
            if i == len(bodies) // 3:
                await asyncio.sleep(0.05)
                await asyncio.to_thread(stack.kill, "indexer")
            await asyncio.sleep(0.01)
        await asyncio.to_thread(stack.restart, "indexer")
        return list(await asyncio.gather(*tasks))


def _indexed(stack: Stack, study: str) -> int:
    response = httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances", params={"limit": 1000})
    return len(response.json()) if response.status_code == 200 else 0


def test_killed_indexer_loses_no_acknowledged_instance(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(30)]
    statuses = asyncio.run(_store_all(stack, [instances.to_bytes(ds) for ds in datasets]))
    acknowledged = [
        ds for ds, status in zip(datasets, statuses, strict=True) if status in (200, 202)
    ]
    assert statuses.count(200) + statuses.count(202) == len(statuses), statuses
    deadline = time.monotonic() + 30
    while _indexed(stack, study) < len(acknowledged) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _indexed(stack, study) == len(acknowledged)
    assert statuses.count(200) == len(statuses)  # the restarted indexer confirmed in time


def test_crashed_children_are_all_restarted_and_a_failed_restart_is_retried(stack: Stack) -> None:
    """wado cannot come back while its port is taken; qido, which crashed with it, must not
    wait for that, and wado returns on a later round once the port is free."""
    wado_port = int(stack.service_urls["wado"][0].rsplit(":", 1)[1])
    stack.kill("wado")
    stack.kill("qido")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, still sole
    try:
        blocker.bind((stack.host, wado_port))
        blocker.listen()
        restarted, failed = stack.restart_crashed()
        assert restarted == ["qido-0"]
        assert [name for name, _ in failed] == ["wado-0"]
        assert httpx.get(f"{stack.dicomweb_url}/studies", params={"limit": 1}).status_code in (
            200,
            204,
        )
    finally:
        blocker.close()
    assert eventually(lambda: "wado-0" in stack.restart_crashed()[0], seconds=60)
    assert stack.component("wado").health()
