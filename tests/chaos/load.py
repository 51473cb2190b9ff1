"""The chaos test's STOW load: a few concurrent clients, each storing small instances (pydicom's
CT_small with new UIDs) one per request through the gateway, retrying each one on 503, on
connection errors and on the gateway's 502 / 504 for a peer killed mid-request, until it is
acknowledged (200, or 202 "will become searchable"), as a well-behaved client would."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import itertools
from collections import Counter
from dataclasses import dataclass, field

import httpx
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests import instances

# Statuses a client waits out and retries: an outage (503, with Retry-After) or a peer that died
# under the gateway mid-request (502, 504).
RETRIED = frozenset({502, 503, 504})
RETRY_PAUSE_SECONDS = 0.2  # shorter than Retry-After: the test wants to hit the recovery edge
REQUEST_TIMEOUT_SECONDS = 30.0
SERIES_SIZE = 50  # instances per series, so retrieval checks fetch a series at a time


@dataclass(frozen=True)
class Sent:
    """An acknowledged instance: where it lives and the digest of the bytes sent."""

    study: str
    series: str
    sop: str
    digest: str


@dataclass
class Ledger:
    """What the clients saw: every acknowledged instance, and every answer by kind."""

    acknowledged: dict[str, Sent] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


def _instance(template: Dataset, study: str, series: str) -> tuple[str, bytes]:
    ds = copy.deepcopy(template)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return ds.SOPInstanceUID, buffer.getvalue()


async def _attempt(client: httpx.AsyncClient, url: str, body: bytes, ledger: Ledger) -> bool:
    """One POST; True when done (acknowledged, or refused: noted in ``unexpected``), False
    when it should be retried."""
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/dicom"}
        )
    except httpx.TransportError as exc:
        ledger.answers[type(exc).__name__] += 1
        return False
    ledger.answers[str(response.status_code)] += 1
    if response.status_code in RETRIED:
        return False
    if response.status_code not in (200, 202):
        ledger.unexpected.append(f"{response.status_code}: {response.text[:300]}")
    return True


async def store_until_acknowledged(
    client: httpx.AsyncClient, url: str, sent: Sent, body: bytes, ledger: Ledger
) -> None:
    refused = len(ledger.unexpected)
    for _ in itertools.count():
        if await _attempt(client, url, body, ledger):
            break
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
    if len(ledger.unexpected) == refused:
        ledger.acknowledged[sent.sop] = sent


async def run_client(dicomweb_url: str, ledger: Ledger, stop: asyncio.Event) -> None:
    """Store instance after instance into a study of this client's own until ``stop`` is set;
    the instance in flight then is still seen through to its acknowledgement."""
    template = instances.template()
    study, series, count = generate_uid(), generate_uid(), 0
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout) as client:
        while not stop.is_set():
            if count and count % SERIES_SIZE == 0:
                series = generate_uid()
            sop, body = _instance(template, study, series)
            sent = Sent(study, series, sop, hashlib.sha256(body).hexdigest())
            await store_until_acknowledged(client, f"{dicomweb_url}/studies", sent, body, ledger)
            count += 1
