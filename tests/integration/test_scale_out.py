"""Scale-out: two replicas each of STOW, QIDO, WADO and the indexer behind the gateway.

Concurrent stores through the gateway (every instance sent twice at once), then stores racing
deletes of the same instances. Afterwards the index, the blobs and the change feed must be
exactly what the acknowledged answers say: one row and one blob per instance present, one
Create per stored instance (an identical re-store changes nothing), and for each raced instance
a feed whose last action agrees with what the index and WADO show.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydicom.dataset import Dataset

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

REPLICAS = {"stow": 2, "qido": 2, "wado": 2, "indexer": 2}
STUDIES, PER_STUDY, RACED, CONCURRENCY = 4, 8, 12, 16
BLOB_CLEANUP_SECONDS = 30.0


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("scaled"), replicas=REPLICAS)
    with Stack(settings) as stack:
        yield stack


@pytest.fixture
async def client(scaled: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=scaled.dicomweb_url, timeout=60, limits=limits) as c:
        yield c


def _url(ds: Dataset) -> str:
    return (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


async def _store(client: httpx.AsyncClient, data: bytes) -> int:
    response = await client.post(
        "/studies", content=data, headers={"Content-Type": "application/dicom"}
    )
    return response.status_code


async def _delete(client: httpx.AsyncClient, ds: Dataset) -> int:
    return (await client.delete(_url(ds))).status_code


async def _all(jobs: list[asyncio.Task[int]]) -> list[int]:
    return list(await asyncio.gather(*jobs))


def _bounded(coroutines: list[Coroutine[Any, Any, int]]) -> list[asyncio.Task[int]]:
    """Shuffled, at most CONCURRENCY in flight."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(coroutine: Coroutine[Any, Any, int]) -> int:
        async with gate:
            return await coroutine

    random.shuffle(coroutines)
    return [asyncio.create_task(run(c)) for c in coroutines]


async def _feed(stack: Stack, studies: set[str]) -> dict[str, list[str]]:
    """SOP Instance UID → its change-feed actions in sequence order."""
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        rows = await conn.fetch(
            "SELECT sop_instance_uid, action FROM change_feed"
            " WHERE study_instance_uid = ANY($1::text[]) ORDER BY sequence",
            list(studies),
        )
    finally:
        await conn.close()
    feed: dict[str, list[str]] = {}
    for row in rows:
        feed.setdefault(row["sop_instance_uid"], []).append(row["action"])
    return feed


async def _indexed(stack: Stack, studies: set[str]) -> dict[str, str]:
    """SOP Instance UID → blob key of every indexed instance of ``studies``."""
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        rows = await conn.fetch(
            "SELECT sop_instance_uid, blob_key FROM instance"
            " WHERE study_instance_uid = ANY($1::text[])",
            list(studies),
        )
    finally:
        await conn.close()
    return {row["sop_instance_uid"]: row["blob_key"] for row in rows}


def _blobs(root: Path, studies: set[str]) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for study in studies
        for path in (root / "studies" / study).rglob("*")
        if path.is_file()
    }


async def _settle(done: Callable[[], bool]) -> None:
    """Poll until ``done()`` or BLOB_CLEANUP_SECONDS pass (the caller asserts afterwards)."""
    deadline = time.monotonic() + BLOB_CLEANUP_SECONDS
    while time.monotonic() < deadline:
        if done():
            return
        await asyncio.sleep(0.5)


def _requests_served(stack: Stack, service: str, replica: int) -> float:
    metrics = httpx.get(f"{stack.service_urls[service][replica]}/metrics").text
    pattern = rf'dicomweb_http_requests_total\{{[^}}]*service="{service}"[^}}]*\}} (\S+)'
    return sum(float(value) for value in re.findall(pattern, metrics))


async def test_replicas_run_behind_the_gateway(scaled: Stack) -> None:
    for service, count in REPLICAS.items():
        assert len(scaled.replicas[service]) == count
    async with httpx.AsyncClient(timeout=10) as client:
        health = await client.get(f"{scaled.gateway_url}/healthz")
    assert health.status_code == 200, health.text


async def test_concurrent_stores_duplicates_and_delete_races_end_exactly_right(
    scaled: Stack, client: httpx.AsyncClient
) -> None:
    datasets = [
        instances.fresh(study=study)
        for study in (instances.fresh().StudyInstanceUID for _ in range(STUDIES))
        for _ in range(PER_STUDY)
    ]
    data = {ds.SOPInstanceUID: instances.to_bytes(ds) for ds in datasets}
    studies = {ds.StudyInstanceUID for ds in datasets}

    # Every instance twice at once: both answers are 200 (the second is an identical re-store).
    twice = [_store(client, data[ds.SOPInstanceUID]) for ds in datasets * 2]
    statuses = await _all(_bounded(twice))
    assert statuses == [200] * len(statuses)

    # Races on stored instances: a delete and an identical re-store at once.
    raced = datasets[:RACED]
    jobs = [_delete(client, ds) for ds in raced] + [
        _store(client, data[ds.SOPInstanceUID]) for ds in raced
    ]
    # Races on new instances: a store and a delete that may come first (404) or second (204).
    fresh = [instances.fresh(study=datasets[-1].StudyInstanceUID) for _ in range(RACED)]
    data |= {ds.SOPInstanceUID: instances.to_bytes(ds) for ds in fresh}
    jobs += [_store(client, data[ds.SOPInstanceUID]) for ds in fresh]
    jobs += [_delete(client, ds) for ds in fresh]
    statuses = await _all(_bounded(jobs))
    assert set(statuses) <= {200, 204, 404}, statuses

    indexed = await _indexed(scaled, studies)
    feed = await _feed(scaled, studies)
    untouched = {ds.SOPInstanceUID for ds in datasets[RACED:]}
    everything = [*datasets, *fresh]

    # The change feed: one Create per untouched instance; raced ones alternate from a Create.
    for uid in untouched:
        assert feed[uid] == ["Create"], (uid, feed[uid])
    for ds in [*raced, *fresh]:
        actions = feed.get(ds.SOPInstanceUID, [])
        assert all(a == ("Create" if i % 2 == 0 else "Delete") for i, a in enumerate(actions))
        # The last committed action is the state the index shows.
        assert (bool(actions) and actions[-1] == "Create") == (ds.SOPInstanceUID in indexed)
    assert untouched <= set(indexed)
    assert set(indexed) <= set(data)

    # WADO (two replicas) agrees with the index, byte for byte.
    accept = {"Accept": "application/dicom; transfer-syntax=*"}
    for ds in everything:
        response = await client.get(_url(ds), headers=accept)
        if ds.SOPInstanceUID in indexed:
            assert response.status_code == 200
            assert response.content == data[ds.SOPInstanceUID]
        else:
            assert response.status_code == 404

    # QIDO (two replicas) finds exactly the indexed instances.
    study_of = {ds.SOPInstanceUID: ds.StudyInstanceUID for ds in everything}
    for study in studies:
        response = await client.get(f"/studies/{study}/instances")
        assert response.status_code in (200, 204)
        found = {i["00080018"]["Value"][0] for i in response.json()} if response.content else set()
        assert found == {uid for uid in indexed if study_of[uid] == study}

    # Blobs: exactly one per indexed instance once the indexers' clean-up has run.
    root = scaled.storage.root
    await _settle(lambda: _blobs(root, studies) == set(indexed.values()))
    assert _blobs(root, studies) == set(indexed.values())

    # Both replicas of each HTTP service took part.
    for service in ("stow", "qido", "wado"):
        served = [_requests_served(scaled, service, i) for i in range(REPLICAS[service])]
        assert all(count > 0 for count in served), (service, served)
