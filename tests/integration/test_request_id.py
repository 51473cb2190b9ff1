"""A request id follows an instance from STOW through the ingest command to the indexer's log."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration


def _log_entries(stack: Stack, service: str) -> list[dict[str, object]]:
    entries = []
    for path in stack.log_dir.glob(f"{service}*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
    return entries


def test_request_id_reaches_the_indexer_log(stack: Stack) -> None:
    request_id = uuid.uuid4().hex
    response = httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=instances.to_bytes(instances.fresh()),
        headers={"Content-Type": "application/dicom", "X-Request-ID": request_id},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stow = [e for e in _log_entries(stack, "stow") if e.get("request_id") == request_id]
        indexer = [e for e in _log_entries(stack, "indexer") if e.get("request_id") == request_id]
        if stow and indexer:
            break
        time.sleep(0.2)
    assert stow, "STOW logged nothing under the request id"
    assert indexer, "the indexer logged nothing under the request id"
    assert all(e["level"] and e["time"] for e in stow + indexer)
