"""One STOW-RS request of a batch of files: the multipart/related body streamed from the files
(PS3.18 §8.6.1), the retries an overloaded server asks for, and each file's fate.

The body's length is known before it is sent (the parts' headers plus the files' sizes), so it
goes with a Content-Length and no chunked encoding, which some servers and proxies refuse. It is
read from the files in 1 MiB pieces as the socket takes them: memory stays at one piece per
request in flight, whatever the files' sizes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from dicomweb.server import TRANSPORT_ERRORS, CommandError, Server, refusal, unreachable
from dicomweb.sources import Source
from dicomweb.stowanswer import StowAnswer, describe, read_answer

CHUNK_BYTES = 1 << 20
ATTEMPTS = 5
RETRY_AFTER_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class Item:
    """A file to send and the SOP Instance UID its header names."""

    source: Source
    sop_instance_uid: str


@dataclass
class Fate:
    """What the server did with a batch: acknowledged items, and failed ones with a reason."""

    acknowledged: list[Item]
    failed: list[tuple[Item, str]]


async def send_batch(session: aiohttp.ClientSession, server: Server, batch: Sequence[Item]) -> Fate:
    """POST the batch, retrying what the server says is passing (503, 429, a dropped socket);
    a batch too large for the server (413) is split until each file goes alone."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            status, retry_after, body = await _post(session, server, batch)
        except TRANSPORT_ERRORS as exc:
            if attempt == ATTEMPTS:
                raise unreachable(server, exc) from exc
            await asyncio.sleep(attempt)
            continue
        if status in (200, 202, 409):
            return settle(batch, read_answer(body))
        if status in (429, 503) and attempt < ATTEMPTS:
            await asyncio.sleep(min(retry_after or attempt, RETRY_AFTER_CAP_SECONDS))
            continue
        if status == 413 and len(batch) > 1:
            return await _split(session, server, batch)
        return _refused(server, batch, status, body)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _split(session: aiohttp.ClientSession, server: Server, batch: Sequence[Item]) -> Fate:
    half = len(batch) // 2
    first = await send_batch(session, server, batch[:half])
    second = await send_batch(session, server, batch[half:])
    return Fate(first.acknowledged + second.acknowledged, first.failed + second.failed)


def _refused(server: Server, batch: Sequence[Item], status: int, body: bytes) -> Fate:
    """401 and 403 end the upload (no other batch would fare better); the rest fail the batch."""
    text = body.decode(errors="replace")
    error = refusal(server, status, text)
    if error is not None and status in (401, 403):
        raise error
    reason = str(error) if error is not None else f"HTTP {status}: {text.strip()[:200]}"
    return Fate([], [(item, reason) for item in batch])


def settle(batch: Sequence[Item], answer: StowAnswer) -> Fate:
    """Each file's fate by its SOP Instance UID. A file whose File Meta names another UID than
    its data set (pydicom's own test files hold some) is not found by it: the files nothing
    accounts for take, in order, the references no file claimed, then the failures that name
    no UID (a part the server could not parse)."""
    fate = Fate([], [])
    by_uid = {item.sop_instance_uid: item for item in batch}
    referenced = set(answer.referenced)
    unaccounted: list[Item] = []
    for item in batch:
        uid = item.sop_instance_uid
        if uid in referenced:
            fate.acknowledged.append(item)
        elif uid in answer.failed:
            fate.failed.append((item, describe(answer.failed[uid])))
        else:
            unaccounted.append(item)
    unclaimed = iter([uid for uid in answer.referenced if uid not in by_uid])
    reasons = iter(answer.failed_without_uid)
    for item in unaccounted:
        if next(unclaimed, None) is not None:
            fate.acknowledged.append(item)
            continue
        code = next(reasons, None)
        reason = describe(code) if code is not None else "not named in the server's answer"
        fate.failed.append((item, reason))
    return fate


async def _post(
    session: aiohttp.ClientSession, server: Server, batch: Sequence[Item]
) -> tuple[int, float | None, bytes]:
    boundary = uuid.uuid4().hex
    head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    tail = f"--{boundary}--\r\n".encode()
    length = sum(len(head) + item.source.size + 2 for item in batch) + len(tail)
    headers = server.headers(
        {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Content-Length": str(length),
            "Accept": "application/dicom+json",
        }
    )
    body = _body([item.source for item in batch], head, tail)
    async with session.post(f"{server.root}/studies", data=body, headers=headers) as response:
        return response.status, _retry_after(response.headers), await response.read()


async def _body(sources: Sequence[Source], head: bytes, tail: bytes) -> AsyncIterator[bytes]:
    """The body in pieces of about ``CHUNK_BYTES``: small files share a piece (one write and
    one socket send for many of them, as a body built in memory would be), large ones are cut."""
    pending: list[bytes] = []
    held = 0
    for source in sources:
        pending.append(head)
        sent = 0
        with source.open() as stream:
            while chunk := stream.read(CHUNK_BYTES):
                sent += len(chunk)
                pending.append(chunk)
                held += len(chunk)
                if held >= CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, held = [], 0
        if sent != source.size:
            raise CommandError(f"{source.key} changed while it was being sent; run again")
        pending.append(b"\r\n")
    pending.append(tail)
    yield b"".join(pending)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
