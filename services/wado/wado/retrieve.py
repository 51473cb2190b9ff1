"""Retrieve Study / Series / Instance (PS3.18 §10.4): DICOM instances streamed one at a time.

The stored bytes stream straight from blob storage when the stored transfer syntax is
acceptable; otherwise one instance at a time is read and transcoded in a worker thread, so a
study of any size streams with the memory of its largest instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.responses import Response, StreamingResponse

from dicomcommon.errors import NotAcceptable
from dicomcommon.web import multipart
from wado import transcode
from wado.context import WadoContext
from wado.index import StoredInstance
from wado.negotiate import AS_STORED, Choice, Offer
from wado.transcode import TranscodeError

log = logging.getLogger(__name__)

DICOM = "application/dicom"
OFFER = Offer(
    media_types=(DICOM,),
    wildcard=Choice(True, DICOM, "1.2.840.10008.1.2.1"),
    single_part=True,
)
SERIES_OFFER = Offer(media_types=(DICOM,), wildcard=OFFER.wildcard, single_part=False)


@dataclass(frozen=True)
class Planned:
    """An instance and the transfer syntax it will be sent in (``*``: as stored)."""

    instance: StoredInstance
    transfer_syntax: str

    @property
    def as_stored(self) -> bool:
        return self.transfer_syntax in (AS_STORED, self.instance.transfer_syntax_uid)

    @property
    def read_whole(self) -> bool:
        """Sent as stored and small: one storage read, no stream."""
        return self.as_stored and self.instance.size <= SMALL_BLOB_BYTES

    @property
    def content_type(self) -> str:
        syntax = self.instance.transfer_syntax_uid if self.as_stored else self.transfer_syntax
        return f"{DICOM}; transfer-syntax={syntax}"


def plan(
    instances: Sequence[StoredInstance], choices: Sequence[Choice], max_transcode_bytes: int
) -> list[Planned]:
    """Each instance in the first acceptable transfer syntax it can be sent in; instances
    that fit none are left out (PS3.18 §10.4.3: a partial response); 406 if all are."""
    planned = []
    for instance in instances:
        syntax = next(
            (
                c.transfer_syntax
                for c in choices
                if c.multipart == choices[0].multipart
                and _feasible(instance, c.transfer_syntax, max_transcode_bytes)
            ),
            None,
        )
        if syntax is not None:
            planned.append(Planned(instance, syntax))
    if not planned:
        wanted = ", ".join(sorted({c.transfer_syntax for c in choices}))
        raise NotAcceptable(f"cannot send the instances in any acceptable syntax: {wanted}")
    return planned


def _feasible(instance: StoredInstance, syntax: str, max_bytes: int) -> bool:
    stored = instance.transfer_syntax_uid
    if syntax in (AS_STORED, stored):
        return True
    return instance.size <= max_bytes and transcode.can_transcode(
        stored, syntax, instance.has_pixel_data
    )


async def response(
    ctx: WadoContext, planned: list[Planned], total: int, multipart_: bool, base_url: str
) -> Response:
    """Single part for one instance when asked, else ``multipart/related``; the first bytes
    are read before answering, so a missing blob or a failed conversion is a clean status."""
    headers = {}
    status = 200
    if len(planned) < total:
        status = 206  # PS3.18 §10.4.3.3: some instances could not be returned
        headers["Warning"] = (
            f'299 wado "{total - len(planned)} instances could not be converted '
            'to an acceptable transfer syntax"'
        )
    if not multipart_:
        try:
            body = await _primed(_instance_bytes(ctx, planned[0]))
        except TranscodeError as exc:
            raise NotAcceptable(str(exc)) from exc
        if planned[0].as_stored:
            headers["Content-Length"] = str(planned[0].instance.size)
        return StreamingResponse(body, status, headers, planned[0].content_type)
    boundary = multipart.new_boundary()
    media_type = f'multipart/related; type="{DICOM}"; boundary={boundary}'
    part_headers = [
        _part_header(item, boundary, base_url, first=n == 0) for n, item in enumerate(planned)
    ]
    if all(item.as_stored for item in planned):
        headers["Content-Length"] = str(multipart_length(planned, part_headers, boundary))
    parts = _multipart(ctx, planned, part_headers, boundary, base_url)
    body = await _primed(_coalesced(parts))
    return StreamingResponse(body, status, headers, media_type)


def multipart_length(planned: Sequence[Planned], part_headers: list[bytes], boundary: str) -> int:
    """The exact size of the multipart body when every instance goes as stored (the index
    knows each blob's size): with a Content-Length the response is not chunk-framed, so the
    server writes each piece as it is instead of copying it into a frame."""
    bodies = sum(item.instance.size for item in planned)
    return sum(map(len, part_headers)) + bodies + len(multipart.closing_delimiter(boundary))


def _part_header(item: Planned, boundary: str, base_url: str, first: bool) -> bytes:
    location = {"Content-Location": f"{base_url}/{item.instance.instance_path}"}
    return multipart.part_header(boundary, item.content_type, location, first=first)


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Run ``chunks`` up to its first chunk now, and return the whole stream."""
    first = [chunk async for chunk in _first(chunks)]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in first:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return stream()


async def _first(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
        return


async def _multipart(
    ctx: WadoContext,
    planned: list[Planned],
    part_headers: list[bytes],
    boundary: str,
    base_url: str,
) -> AsyncIterator[bytes]:
    """The parts, each opened by its header from ``part_headers`` (built once by
    ``response``); when instances before it were left out, the first part sent is opened
    without the CRLF that ends a previous part."""
    ahead = _Prefetch(ctx, planned)
    first = True
    try:
        for index, item in enumerate(planned):
            try:
                body = await ahead.take(index)
            except TranscodeError as exc:
                if first and item is planned[-1]:
                    raise NotAcceptable(str(exc)) from exc
                log.warning("instance %s left out: %s", item.instance.sop_instance_uid, exc)
                continue  # the status is sent already: leave it out (PS3.18 §10.4.3)
            opens_body = first and index > 0
            yield (
                _part_header(item, boundary, base_url, True) if opens_body else part_headers[index]
            )
            first = False
            if isinstance(body, bytes):
                yield body
                continue
            async for chunk in body:
                yield chunk
    finally:
        ahead.cancel()
    yield multipart.closing_delimiter(boundary)


SMALL_BLOB_BYTES = 1 << 20  # read whole; larger blobs stream chunk by chunk
BATCH_INSTANCES, BATCH_BYTES = 32, 4 << 20  # small instances read in one storage call
BATCHES_AHEAD = 2  # read ahead: at most ~8 MiB of small instances, or two first chunks
COALESCE_BYTES = 256 << 10


async def _coalesced(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Small pieces (part headers, small instances) joined into writes of ~256 KiB: one
    trip through the server per write instead of two or more per instance."""
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= COALESCE_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


Body = bytes | AsyncIterator[bytes]


def batches(planned: Sequence[Planned]) -> list[range]:
    """Runs of small instances sent as stored, each read in one storage call (at most
    ``BATCH_INSTANCES`` and about ``BATCH_BYTES``); any other instance is a batch alone."""
    found: list[range] = []
    start, size = 0, 0
    for index, item in enumerate(planned):
        joins = (
            item.read_whole
            and index > start
            and planned[start].read_whole
            and index - start < BATCH_INSTANCES
            and size + item.instance.size <= BATCH_BYTES
        )
        if not joins and index > start:
            found.append(range(start, index))
            start, size = index, 0
        size += item.instance.size
    if planned:
        found.append(range(start, len(planned)))
    return found


class _Prefetch:
    """Reads the next batches while the current one is sent, so a series of small instances
    is neither one storage round trip nor one worker-thread hand-off per instance. A batch of
    small instances comes as bytes; a large instance as a stream already opened (its first
    chunk read); a transcoded one starts only when reached (it is whole in memory)."""

    def __init__(self, ctx: WadoContext, planned: list[Planned]) -> None:
        self.ctx = ctx
        self.planned = planned
        self.batches = batches(planned)
        self.batch_of = [n for n, batch in enumerate(self.batches) for _ in batch]
        self.started: dict[int, asyncio.Task[list[Body]]] = {}

    async def take(self, index: int) -> Body:
        current = self.batch_of[index]
        for later in range(current, min(current + 1 + BATCHES_AHEAD, len(self.batches))):
            if later not in self.started and self.planned[self.batches[later][0]].as_stored:
                self.started[later] = asyncio.create_task(self._read(later))
        if current not in self.started:
            self.started[current] = asyncio.create_task(self._read(current))
        batch = self.batches[current]
        bodies = await self.started[current]
        if index == batch[-1]:
            del self.started[current]
        return bodies[index - batch.start]

    async def _read(self, number: int) -> list[Body]:
        items = [self.planned[index] for index in self.batches[number]]
        if items[0].read_whole:
            return list(await self.ctx.store.read_many([i.instance.blob_key for i in items]))
        return [await _primed(_instance_bytes(self.ctx, items[0]))]

    def cancel(self) -> None:
        for task in self.started.values():
            task.cancel()


async def _instance_bytes(ctx: WadoContext, item: Planned) -> AsyncIterator[bytes]:
    """The stored bytes, streamed; or the instance transcoded in a worker thread."""
    key = item.instance.blob_key
    if item.read_whole:
        yield await ctx.store.read(key)  # one storage round trip for a typical instance
        return
    if item.as_stored:
        async for chunk in ctx.store.get(key):
            yield chunk
        return
    async with ctx.conversions.admit(item.instance.size):
        data = await ctx.store.read(key)
        converted = await asyncio.to_thread(transcode.transcode, data, item.transfer_syntax)
    yield converted
