"""The stores of concurrent associations leave as one ingest command (``dimse.publishing``),
on the session stack's NATS, storage and indexer: what is published is seen on the ingest
subject by a plain subscriber, and every store of the group is indexed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dicomcommon import studyaccess
from dicomcommon.adapters.bus import Bus, subject
from dicomcommon.adapters.events import STORE_SUBJECT
from dicomcommon.adapters.ingest import Ingest
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.adapters.storage.factory import open_store
from dicomcommon.principal import LOCAL
from dicomcommon.settings import NatsSettings, StorageSettings, StudyGroupsSettings
from dicomcommon.web.multipart import Part
from dicomstack.stack import Stack
from dimse.publishing import GroupPublisher
from tests import instances
from tests.polling import eventually

pytestmark = pytest.mark.integration
STORES = 6


async def _publish_together(stack: Stack, bodies: list[bytes]) -> list[bytes]:
    """Publish ``bodies`` at once through one publisher; the messages seen on the subject."""
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
        upload = studyaccess.upload(LOCAL, StudyGroupsSettings())
        prepared = []
        for body in bodies:
            part = Part({})
            part.write(body)
            part.body.seek(0)
            prepared.append(await ingest.write(part, await ingest.read(part, None), upload))
        publisher = GroupPublisher(ingest)
        await asyncio.gather(*(publisher.publish(store) for store in prepared))
        await asyncio.sleep(1)  # the subscriber's copies arrive
        watched_task.cancel()
    finally:
        await waiter.close()
        await bus.close()
        await blobs.close()
    return seen


async def _collect(subscription: object, seen: list[bytes]) -> None:
    async for message in subscription.messages:  # type: ignore[attr-defined]
        seen.append(message.data)


def test_concurrent_stores_leave_as_one_command_and_are_all_indexed(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(STORES)]
    seen = asyncio.run(_publish_together(stack, [instances.to_bytes(ds) for ds in datasets]))
    mine = [m for m in seen if study.encode() in m]
    assert len(mine) == 1  # one message for the six stores

    def indexed() -> int:
        response = httpx.get(f"{stack.dicomweb_url}/studies/{study}/instances")
        return len(response.json()) if response.status_code == 200 else 0

    assert eventually(lambda: indexed() == STORES)
