"""Concurrent STOW-RS requests share their ingest commands (``GroupPublisher``): eight
single-instance requests at once travel in fewer JetStream messages than requests, and each
request still gets its own answer (its instance referenced, or its conflict)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dicomcommon.errors import FailureReason
from dicomstack.stack import Stack
from tests import instances
from tests.integration.test_store import _ingest_messages

pytestmark = pytest.mark.integration
REQUESTS = 8
REFERENCED, FAILED = "00081199", "00081198"


async def _store_at_once(stack: Stack, bodies: list[bytes]) -> list[httpx.Response]:
    headers = {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}
    async with httpx.AsyncClient(timeout=60) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(f"{stack.dicomweb_url}/studies", content=body, headers=headers)
                    for body in bodies
                )
            )
        )


def _referenced(response: httpx.Response) -> list[str]:
    return [item["00081155"]["Value"][0] for item in response.json()[REFERENCED]["Value"]]


def test_concurrent_requests_share_ingest_commands_and_each_gets_its_answer(
    stack: Stack,
) -> None:
    held = instances.fresh()
    body = instances.to_bytes(held)
    assert httpx.post(
        f"{stack.dicomweb_url}/studies", content=body, headers={"Content-Type": "application/dicom"}
    ).is_success
    held.PatientName = "Other^Content"  # another instance under a held UID: a conflict
    datasets = [instances.fresh() for _ in range(REQUESTS - 1)]
    bodies = [instances.to_bytes(ds) for ds in datasets] + [instances.to_bytes(held)]
    before = asyncio.run(_ingest_messages(stack.nats_url))
    responses = asyncio.run(_store_at_once(stack, bodies))
    published = asyncio.run(_ingest_messages(stack.nats_url)) - before
    for ds, response in zip(datasets, responses, strict=False):
        assert response.status_code == 200, response.text
        assert _referenced(response) == [ds.SOPInstanceUID]
    conflict = responses[-1]
    assert conflict.status_code == 409, conflict.text
    [failed] = conflict.json()[FAILED]["Value"]
    assert failed["00081197"]["Value"] == [FailureReason.DUPLICATE_SOP_INSTANCE]
    assert 1 <= published < REQUESTS
