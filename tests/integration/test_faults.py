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
import urllib.parse
import uuid
from collections.abc import Iterator

import asyncpg
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
        "DICOMWEB_WADO_MAX_CONVERSIONS": "1",
        "DICOMWEB_WADO_CONVERSION_WAIT_SECONDS": "0",
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


@pytest.fixture(scope="module")
def stored_instance(stack: Stack) -> Dataset:
    ds = instances.fresh()
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    return ds


# Unicode digits pass str.isdigit (and \\d); then int() fails or reads them; past 64 bits
# PostgreSQL overflows; float() reads 1e999 and nan.
_NOT_NUMBERS = ["²", "\uff11\uff10", "\u0661", "9" * 5000, "1e999", "nan", "1\x00", "0x10"]
_NOT_INTEGERS = [*_NOT_NUMBERS, str(2**64), "1.5"]
_URI = "/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={sop}"
_INTEGER_PARAMETERS = [
    "/studies?limit={v}",
    "/studies?offset={v}",
    "/changefeed?offset={v}",
    "/changefeed?limit={v}",
    "/v2/changefeed?offset={v}",
    "/changefeed/stream?after={v}",
    "{instance}/frames/{v}",
    "{instance}/frames/1,{v}",
    "{instance}/rendered?quality={v}",
    "{instance}/rendered?viewport={v},{v}",
    _URI + "&contentType=image/jpeg&frameNumber={v}",
    _URI + "&contentType=image/jpeg&rows={v}",
]
_NUMBER_PARAMETERS = [
    "/studies?NumberOfStudyRelatedInstances={v}",
    "/studies?StudyDate={v}",
    "{instance}/rendered?window={v},400",
    _URI + "&contentType=image/jpeg&windowCenter={v}&windowWidth=400",
]
_BOOLEAN_PARAMETERS = ["/studies?fuzzymatching={v}", "/changefeed?includemetadata={v}"]


def _cases() -> list[tuple[str, str]]:
    return [
        *((path, v) for path in _INTEGER_PARAMETERS for v in _NOT_INTEGERS),
        *((path, v) for path in _NUMBER_PARAMETERS for v in _NOT_NUMBERS),
        *((path, v) for path in _BOOLEAN_PARAMETERS for v in ["yes", "1", "\u0074rue\x00"]),
    ]


@pytest.mark.parametrize(("path", "value"), _cases())
def test_numbers_that_are_not_ascii_bounded_numbers_are_400(
    stack: Stack, stored_instance: Dataset, path: str, value: str
) -> None:
    ds = stored_instance
    root = stack.gateway_url if path.startswith("/wado?") else stack.dicomweb_url
    url = root + path.format(
        v=urllib.parse.quote(value),
        instance=_instance_url(stack, ds).removeprefix(stack.dicomweb_url),
        study=ds.StudyInstanceUID,
        series=ds.SeriesInstanceUID,
        sop=ds.SOPInstanceUID,
    )
    response = httpx.get(url, timeout=30)
    assert response.status_code == 400, (url, response.status_code, response.text[:200])


_REFUSE_DELETE = """
CREATE OR REPLACE FUNCTION test_refuse_delete_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.sop_instance_uid = '{sop}' THEN
        RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'check_violation';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER test_refuse_delete_{name} BEFORE DELETE ON instance
    FOR EACH ROW EXECUTE FUNCTION test_refuse_delete_{name}();
"""


async def _sql(stack: Stack, text: str) -> None:
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        await conn.execute(text)
    finally:
        await conn.close()


def test_delete_the_index_failed_to_apply_is_an_error_and_keeps_the_instance(stack: Stack) -> None:
    """A PostgreSQL trigger (the injected fault) makes the indexer's delete fail."""
    ds = instances.fresh()
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    name = ds.SOPInstanceUID.replace(".", "_")[-20:]
    asyncio.run(_sql(stack, _REFUSE_DELETE.format(sop=ds.SOPInstanceUID, name=name)))
    try:
        response = httpx.delete(_instance_url(stack, ds), timeout=30)
    finally:
        drop = f"DROP TRIGGER test_refuse_delete_{name} ON instance;"
        asyncio.run(_sql(stack, drop + f"DROP FUNCTION test_refuse_delete_{name}"))
    assert response.status_code == 500, response.text
    assert "refused by a test trigger" in response.json()["error"]
    assert _found(stack, ds.StudyInstanceUID)  # the answer tells the truth: still there
    assert httpx.delete(_instance_url(stack, ds), timeout=30).status_code == 204
    assert not _found(stack, ds.StudyInstanceUID)


def test_gateway_503_while_no_replica_is_healthy_carries_retry_after(stack: Stack) -> None:
    ds = instances.fresh()
    stack.stop_component("delow")
    try:
        answers: list[httpx.Response] = []

        def gateway_gave_up() -> bool:
            answers.append(httpx.delete(_instance_url(stack, ds), timeout=10))
            return answers[-1].status_code == 503

        assert eventually(gateway_gave_up, seconds=20), answers[-1].status_code
    finally:
        stack.start_component("delow")
    assert int(answers[-1].headers["retry-after"]) > 0
    assert httpx.delete(_instance_url(stack, ds), timeout=30).status_code == 404  # healed


async def _reset_ingest_stream(stack: Stack) -> None:
    """What a lost JetStream store does: the ingest stream starts again from sequence 1."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        config = (await js.stream_info("DICOM_INGEST")).config
        await js.delete_stream("DICOM_INGEST")
        await js.add_stream(config)
    finally:
        await nc.close()


def test_a_store_after_a_delete_and_an_ingest_stream_reset_is_kept(stack: Stack) -> None:
    ds = instances.fresh()
    data = instances.to_bytes(ds)
    for _ in range(3):  # the delete's stream sequence ends above what the new stream starts at
        assert (
            instances.store(stack.dicomweb_url, instances.to_bytes(instances.fresh())).status_code
            == 200
        )
    assert instances.store(stack.dicomweb_url, data).status_code == 200
    assert httpx.delete(_instance_url(stack, ds), timeout=30).status_code == 204
    asyncio.run(_reset_ingest_stream(stack))
    response = instances.store(stack.dicomweb_url, data)
    assert response.status_code in (200, 202), response.text
    assert eventually(lambda: _found(stack, ds.StudyInstanceUID), seconds=60)


async def _retrieve_transcoded(url: str, count: int) -> list[httpx.Response]:
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            await asyncio.gather(
                *(client.get(url, headers={"Accept": accept}) for _ in range(count))
            )
        )


def test_conversions_past_the_cap_are_503_with_retry_after(fault_stack: Stack) -> None:
    """This stack allows one conversion at a time and no wait: of many concurrent transcodes
    some run, the others are told to come back; none fails otherwise."""
    ds = instances.fresh("emri_small.dcm")
    assert _store(fault_stack, instances.to_bytes(ds)).status_code == 200
    answers = asyncio.run(_retrieve_transcoded(_instance_url(fault_stack, ds), 16))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {200, 503}, statuses
    assert all(int(r.headers["retry-after"]) > 0 for r in answers if r.status_code == 503)
    assert (
        asyncio.run(_retrieve_transcoded(_instance_url(fault_stack, ds), 1))[0].status_code == 200
    )
