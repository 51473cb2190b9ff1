"""Backing services going down under STOW (issue 3's faults), on a stack of its own with S3
storage (SeaweedFS) and a short index wait, so outages do not disturb the session stack.

- NATS down: 503 with Retry-After, nothing half-visible, recovery without a restart.
- storage down: 503 with Retry-After, nothing indexed, recovery without a restart.
- PostgreSQL down: the store is durable in JetStream; STOW answers 202 (index unconfirmed) and
  the instance is indexed once PostgreSQL is back.
- SIGKILL of STOW under load: every instance answered 200 is retrievable, byte for byte.
- an instance the index refuses fails alone, parked for an operator's retry.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import httpx
import nats
import pytest
from nats.js.api import ConsumerConfig
from pydicom.dataset import Dataset

from dicomcommon.errors import FailureReason
from dicomcommon.settings import NatsSettings
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from indexer.settings import Settings as IndexerSettings
from tests import instances, poison
from tests.polling import eventually

pytestmark = pytest.mark.integration
REQUEST_LIMIT = 1 << 20


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings.ephemeral(tmp_path_factory.mktemp("faults"), storage="seaweedfs")
    environ = {
        "DICOMWEB_STOW_INDEX_TIMEOUT_SECONDS": "3",
        "DICOMWEB_STORAGE_S3_MAX_ATTEMPTS": "1",
        "DICOMWEB_STOW_MAX_REQUEST_BYTES": str(REQUEST_LIMIT),
    }
    with Stack(settings, environ={**os.environ, **environ}) as running:
        yield running


def _store(stack: Stack, data: bytes) -> httpx.Response:
    return instances.store(stack.dicomweb_url, data)


def _found(stack: Stack, study: str) -> bool:
    response = httpx.get(f"{stack.dicomweb_url}/studies", params={"StudyInstanceUID": study})
    return response.status_code == 200 and len(response.json()) == 1


def _instance_url(stack: Stack, ds: Dataset) -> str:
    return (
        f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


@pytest.mark.parametrize("component", ["nats", "seaweedfs"])
def test_outage_answers_503_then_recovers_without_restart(
    fault_stack: Stack, component: str
) -> None:
    ds = instances.fresh()
    fault_stack.stop_component(component)
    try:
        response = _store(fault_stack, instances.to_bytes(ds))
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
    finally:
        fault_stack.start_component(component)
    assert not _found(fault_stack, ds.StudyInstanceUID)  # nothing half-visible
    assert eventually(lambda: _store(fault_stack, instances.to_bytes(ds)).status_code == 200)
    assert _found(fault_stack, ds.StudyInstanceUID)


def test_postgres_outage_keeps_the_store_and_indexes_it_later(fault_stack: Stack) -> None:
    ds = instances.fresh()
    data = instances.to_bytes(ds)
    fault_stack.stop_component("postgres")
    try:
        response = _store(fault_stack, data)
        assert response.status_code == 202, response.text
        assert response.headers["warning"].startswith("299")
        search = httpx.get(f"{fault_stack.dicomweb_url}/studies")
        assert search.status_code == 503
    finally:
        fault_stack.start_component("postgres")
    assert eventually(lambda: _found(fault_stack, ds.StudyInstanceUID), seconds=60)
    retrieved = httpx.get(
        _instance_url(fault_stack, ds), headers={"Accept": "application/dicom; transfer-syntax=*"}
    )
    assert retrieved.content == data


async def _store_during_kill(stack: Stack, bodies: list[bytes]) -> list[int | None]:
    """Four stores at a time; STOW is killed once a few have been acknowledged."""
    acknowledged = asyncio.Event()
    done: list[int] = []
    slots = asyncio.Semaphore(4)
    async with httpx.AsyncClient(timeout=60) as client:

        async def store(body: bytes) -> int | None:
            async with slots:
                try:
                    response = await client.post(
                        f"{stack.dicomweb_url}/studies",
                        content=body,
                        headers={"Content-Type": "application/dicom"},
                    )
                except httpx.HTTPError:
                    return None  # the connection died with the process: not acknowledged
            done.append(response.status_code)
            if done.count(200) >= 5:
                acknowledged.set()
            return response.status_code

        tasks = [asyncio.create_task(store(body)) for body in bodies]
        await asyncio.wait_for(acknowledged.wait(), timeout=60)
        await asyncio.to_thread(stack.kill, "stow")
        await asyncio.to_thread(stack.restart, "stow")
        return list(await asyncio.gather(*tasks))


def test_killed_stow_loses_no_acknowledged_instance(fault_stack: Stack) -> None:
    datasets = [instances.fresh() for _ in range(30)]
    bodies = [instances.to_bytes(ds) for ds in datasets]
    statuses = asyncio.run(_store_during_kill(fault_stack, bodies))
    acknowledged = [
        (ds, body) for ds, body, s in zip(datasets, bodies, statuses, strict=True) if s == 200
    ]
    assert len(acknowledged) >= 5, statuses
    assert len(acknowledged) < len(datasets), statuses  # the kill did cut some stores short
    for ds, body in acknowledged:
        assert _found(fault_stack, ds.StudyInstanceUID)
        retrieved = httpx.get(
            _instance_url(fault_stack, ds),
            headers={"Accept": "application/dicom; transfer-syntax=*"},
        )
        assert retrieved.content == body


def test_a_request_past_the_size_limit_lists_what_was_stored_before_it(
    fault_stack: Stack,
) -> None:
    """The limit is found part way through: the instances complete before it are stored and
    listed (they used to be stored behind a bare 413), the rest is one 0xA700 failure."""
    datasets = [instances.fresh() for _ in range(40)]  # ~40 KB each: past the 1 MiB limit
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    assert len(body) > REQUEST_LIMIT
    response = instances.store(fault_stack.dicomweb_url, body, instances.MULTIPART)
    assert response.status_code == 202, response.text
    stored = {r["00081155"]["Value"][0] for r in response.json()["00081199"]["Value"]}
    assert 0 < len(stored) < len(datasets)
    [failed] = response.json()["00081198"]["Value"]
    assert failed == {"00081197": {"vr": "US", "Value": [FailureReason.OUT_OF_RESOURCES]}}
    assert "the rest of the request was not stored" in response.headers["warning"]
    for ds in datasets:
        if ds.SOPInstanceUID in stored:
            assert eventually(lambda ds=ds: _found(fault_stack, ds.StudyInstanceUID))
    assert not any(
        _found(fault_stack, ds.StudyInstanceUID)
        for ds in datasets
        if ds.SOPInstanceUID not in stored
    )


def test_a_poison_instance_fails_alone_and_waits_parked_for_a_retry(fault_stack: Stack) -> None:
    """An instance the index refuses (an injected PostgreSQL error, neither a data error nor
    an outage) used to jam its batch for ever; now it fails alone with 0x0110 and a reason,
    its batch-mate is indexed, and an operator lists it and retries it once the cause is gone."""
    good = instances.fresh()
    bad = instances.fresh(patient_id=f"{poison.PREFIX}{uuid.uuid4().hex}")
    indexer = fault_stack.service_urls["indexer"][0]
    asyncio.run(poison.run(fault_stack.postgres_url, poison.INSTALL))
    try:
        body = instances.multipart_body([instances.to_bytes(good), instances.to_bytes(bad)])
        response = instances.store(fault_stack.dicomweb_url, body, instances.MULTIPART)
        assert response.status_code == 202, response.text
        [failed] = response.json()["00081198"]["Value"]
        assert failed["00081155"]["Value"] == [bad.SOPInstanceUID]
        assert failed["00081197"]["Value"] == [FailureReason.PROCESSING_FAILURE]
        assert "injected fault" in response.headers["warning"]
        assert _found(fault_stack, good.StudyInstanceUID)
        parked = httpx.get(f"{indexer}/parked").json()
        [entry] = [p for p in parked if p["sop_instance_uid"] == bad.SOPInstanceUID]
        assert "injected fault" in entry["error"]
        metrics = httpx.get(f"{indexer}/metrics").text
        assert "dicomweb_indexer_commands_parked_total 1.0" in metrics
    finally:
        asyncio.run(poison.run(fault_stack.postgres_url, poison.REMOVE))
    retried = httpx.post(f"{indexer}/parked/{entry['command_id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "stored"
    assert _found(fault_stack, bad.StudyInstanceUID)
    assert entry["command_id"] not in {
        p["command_id"] for p in httpx.get(f"{indexer}/parked").json()
    }


async def _ingest_consumer_config(nats_url: str) -> ConsumerConfig:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(NatsSettings().ingest_stream, "indexer")
        return info.config
    finally:
        await nc.close()


def test_ingest_commands_have_a_delivery_limit(fault_stack: Stack) -> None:
    """No command is redelivered for ever: JetStream stops at the limit, and the indexer
    parks a command on its last delivery (``consumer``)."""
    config = asyncio.run(_ingest_consumer_config(fault_stack.nats_url))
    assert config.max_deliver == IndexerSettings().max_deliveries
