"""Concurrent STOW-RS requests share their ingest commands (``GroupPublisher``): eight
single-instance requests at once travel in fewer JetStream messages than requests, and each
request still gets its own answer (its instance referenced, or its conflict) and its own
request id on the log line of its publish."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from dicomcommon.errors import FailureReason
from dicomstack.stack import Stack
from tests import instances
from tests.integration.test_request_id import _log_entries
from tests.integration.test_store import _ingest_messages
from tests.polling import eventually

pytestmark = pytest.mark.integration
REQUESTS = 8
REFERENCED, FAILED = "00081199", "00081198"


async def _store_at_once(
    stack: Stack, bodies: list[bytes], request_ids: list[str]
) -> list[httpx.Response]:
    headers = {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}
    async with httpx.AsyncClient(timeout=60, base_url=stack.dicomweb_url) as client:
        stores = (
            client.post("/studies", content=body, headers={**headers, "X-Request-ID": rid})
            for body, rid in zip(bodies, request_ids, strict=True)
        )
        return list(await asyncio.gather(*stores))


def _publishes_logged_under(stack: Stack, request_ids: dict[str, str]) -> bool:
    """Whether each instance's publish is logged, and only under its request's id."""
    logged: dict[str, set[object]] = {}
    for entry in _log_entries(stack, "stow"):
        uid = str(entry.get("message", "")).removeprefix("published ")
        if uid in request_ids:
            logged.setdefault(uid, set()).add(entry.get("request_id"))
    return all(logged.get(uid) == {rid} for uid, rid in request_ids.items())


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
    request_ids = [uuid.uuid4().hex for _ in bodies]
    responses = asyncio.run(_store_at_once(stack, bodies, request_ids))
    published = asyncio.run(_ingest_messages(stack.nats_url)) - before
    for ds, response in zip(datasets, responses, strict=False):
        assert response.status_code == 200, response.text
        assert _referenced(response) == [ds.SOPInstanceUID]
    conflict = responses[-1]
    assert conflict.status_code == 409, conflict.text
    [failed] = conflict.json()[FAILED]["Value"]
    assert failed["00081197"]["Value"] == [FailureReason.DUPLICATE_SOP_INSTANCE]
    assert 1 <= published < REQUESTS
    mine = {ds.SOPInstanceUID: rid for ds, rid in zip(datasets, request_ids, strict=False)}
    assert eventually(lambda: _publishes_logged_under(stack, mine), seconds=10)
