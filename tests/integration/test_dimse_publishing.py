"""The stores of concurrent callers leave as one ingest command (``dicomcommon.adapters.grouping``),
on the session stack's NATS, storage and indexer: what is published is seen on the ingest
subject by a plain subscriber, and every store of the group is indexed; a group that cannot
leave answers each of its stores with the failure; concurrent associations ending at
different times get every response."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from pynetdicom import StoragePresentationContexts

from dicomcommon import studyaccess
from dicomcommon.adapters.bus import Bus, subject
from dicomcommon.adapters.events import STORE_SUBJECT
from dicomcommon.adapters.grouping import GroupPublisher
from dicomcommon.adapters.ingest import Ingest, PreparedStore
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.errors import BackendUnavailable
from dicomcommon.principal import LOCAL
from dicomcommon.settings import NatsSettings, StorageSettings, StudyGroupsSettings
from dicomcommon.web.multipart import Part
from dicomstack.stack import Stack
from tests import instances
from tests.integration.dimse_peers import associate
from tests.polling import eventually

pytestmark = pytest.mark.integration
STORES = 6


async def _prepared(ingest: Ingest, bodies: list[bytes]) -> list[PreparedStore]:
    """Each body read and its blob written, its command ready to publish."""
    upload = studyaccess.upload(LOCAL, StudyGroupsSettings())
    prepared = []
    for body in bodies:
        part = Part({})
        part.write(body)
        part.body.seek(0)
        prepared.append(await ingest.write(part, await ingest.read(part, None), upload))
    return prepared


async def _publish_together(
    stack: Stack, batches: list[list[bytes]]
) -> tuple[list[bytes], list[tuple[list[str], list[str]]]]:
    """Publish ``batches`` at once through one publisher, a caller each: the messages seen on
    the subject, and each caller's command ids as prepared and as answered."""
    nats = NatsSettings(url=stack.nats_url)
    bus = Bus(nats, "publishing-test")
    bus.start()
    waiter = OutcomeWaiter(bus)
    waiter.start()
    blobs = await open_store(StorageSettings.model_validate(stack.storage.model_dump()))
    ingest = Ingest(blobs, bus, waiter, allow_replace=False)
    seen: list[bytes] = []
    try:
        await bus.connected.wait()
        nc, _ = bus.require()
        watched = await nc.subscribe(subject(nats.ingest_subject_prefix, STORE_SUBJECT))
        watched_task = asyncio.ensure_future(_collect(watched, seen))
        prepared = [await _prepared(ingest, bodies) for bodies in batches]
        publisher = GroupPublisher(ingest, "test")
        answered = await asyncio.gather(*(publisher.publish(batch) for batch in prepared))
        await asyncio.sleep(1)  # the subscriber's copies arrive
        watched_task.cancel()
    finally:
        await waiter.close()
        await bus.close()
        await blobs.close()
    ids = [
        ([s.command.command_id for s in batch], [cid for cid, _ in answer])
        for batch, answer in zip(prepared, answered, strict=True)
    ]
    return seen, ids


async def _collect(subscription: object, seen: list[bytes]) -> None:
    async for message in subscription.messages:  # type: ignore[attr-defined]
        seen.append(message.data)


def test_concurrent_stores_leave_as_one_command_and_are_all_indexed(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(STORES)]
    seen, _ = asyncio.run(_publish_together(stack, [[instances.to_bytes(ds)] for ds in datasets]))
    mine = [m for m in seen if study.encode() in m]
    assert len(mine) == 1  # one message for the six stores

    def indexed() -> int:
        response = httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances")
        return len(response.json()) if response.status_code == 200 else 0

    assert eventually(lambda: indexed() == STORES)


def test_batches_of_concurrent_callers_leave_whole_in_one_command(stack: Stack) -> None:
    """Two callers with three stores each (a STOW request's batch): one message for both, and
    each caller is answered with its own commands, in its own order."""
    study = instances.fresh().StudyInstanceUID
    batches = [[instances.to_bytes(instances.fresh(study=study)) for _ in range(3)] for _ in "ab"]
    seen, ids = asyncio.run(_publish_together(stack, batches))
    assert len([m for m in seen if study.encode() in m]) == 1
    for prepared, answered in ids:
        assert answered == prepared


async def _publish_after_the_bus_closed(stack: Stack, bodies: list[bytes]) -> list[object]:
    """Prepare ``bodies`` (blobs written), lose the bus, then publish them at once: what each
    publish raised or returned, or "unanswered" if it had no answer within 10 s."""
    bus = Bus(NatsSettings(url=stack.nats_url), "publishing-test")
    bus.start()
    waiter = OutcomeWaiter(bus)
    waiter.start()
    blobs = await open_store(StorageSettings.model_validate(stack.storage.model_dump()))
    try:
        await bus.connected.wait()
        ingest = Ingest(blobs, bus, waiter, allow_replace=False)
        prepared = await _prepared(ingest, bodies)
        await waiter.close()
        await bus.close()  # NATS gone: a group cannot even be formed (its size needs the bus)
        publisher = GroupPublisher(ingest, "test")
        answers = asyncio.gather(
            *(publisher.publish([store]) for store in prepared), return_exceptions=True
        )
        try:
            return list(await asyncio.wait_for(answers, 10))
        except TimeoutError:
            return ["unanswered"]
    finally:
        await blobs.close()


def test_stores_queued_when_the_bus_is_lost_are_each_answered_with_the_outage(
    stack: Stack,
) -> None:
    bodies = [instances.to_bytes(instances.fresh()) for _ in range(3)]
    answers = asyncio.run(_publish_after_the_bus_closed(stack, bodies))
    assert len(answers) == 3
    assert all(isinstance(answer, BackendUnavailable) for answer in answers)


def test_four_associations_ending_at_different_times_get_every_response(stack: Stack) -> None:
    """Each association stores its own share (3, 6, 9 and 12 instances) at once with the
    others: every C-STORE is answered Success and every instance is indexed."""
    study = instances.fresh().StudyInstanceUID
    shares = [[instances.fresh(study=study) for _ in range(3 * (i + 1))] for i in range(4)]
    statuses: list[list[int]] = [[] for _ in shares]

    def send(index: int) -> None:
        assoc = associate(stack.dimse_address, "MODALITY1", StoragePresentationContexts[:100])
        try:
            for ds in shares[index]:
                statuses[index].append(int(assoc.send_c_store(ds).Status))
        finally:
            assoc.release()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(shares))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [[0x0000] * len(share) for share in shares]

    def indexed() -> int:
        response = httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances")
        return len(response.json()) if response.status_code == 200 else 0

    assert eventually(lambda: indexed() == sum(len(share) for share in shares))
