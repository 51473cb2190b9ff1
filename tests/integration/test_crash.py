"""Nothing acknowledged is lost: SIGKILL the indexer during a batch of stores, restart it, and
every instance whose STOW was answered is indexed."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from dicomstack.stack import Stack
from tests import instances

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
