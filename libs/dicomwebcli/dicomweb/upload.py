"""``dicomweb upload``: every file under the given paths, sent in parallel STOW-RS batches.

One producer walks the sources in order, reads each file's SOP Instance UID from its header,
and decides: already acknowledged (the journal knows this file), a duplicate (an instance this
run or the journal already has under another name), not DICOM (failed here, never sent), or to
send. It fills batches of up to ``batch_size`` files and ``batch_bytes`` bytes into a short
queue, which ``concurrency`` senders empty; the queue's bound keeps the walk only a few batches
ahead of the network, so memory does not grow with the folder.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from dicomweb.header import MEDIA_STORAGE_DIRECTORY, NotDicom, sop_instance_uid
from dicomweb.journal import Journal
from dicomweb.progress import UploadProgress
from dicomweb.server import Server
from dicomweb.sources import Source
from dicomweb.stowbatch import Fate, Item, send_batch


@dataclass(frozen=True)
class UploadPlan:
    batch_size: int = 20
    batch_bytes: int = 32 << 20
    concurrency: int = 4
    dry_run: bool = False


@dataclass
class Tally:
    """The summary: counts by fate, and the reason of every failure."""

    stored: int = 0
    duplicates: int = 0
    already: int = 0
    to_send: int = 0
    sent_bytes: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source key, reason)
    seconds: float = 0.0


async def upload(
    server: Server,
    sources: list[Source],
    journal: Journal,
    plan: UploadPlan,
    progress: UploadProgress,
) -> Tally:
    """Send what the journal lacks; return what happened to every source."""
    tally = Tally()
    started = time.perf_counter()
    batches = _batches(_classify(sources, journal, tally, progress), plan)
    if plan.dry_run:
        for batch in batches:
            tally.to_send += len(batch)
            progress.advance(len(batch), sum(i.source.size for i in batch))
    else:
        await _send_all(server, batches, journal, tally, plan, progress)
    tally.seconds = time.perf_counter() - started
    return tally


async def _send_all(
    server: Server,
    batches: Iterator[list[Item]],
    journal: Journal,
    tally: Tally,
    plan: UploadPlan,
    progress: UploadProgress,
) -> None:
    queue: asyncio.Queue[list[Item] | None] = asyncio.Queue(maxsize=plan.concurrency)
    async with server.session(plan.concurrency) as session:

        async def sender() -> None:
            while (batch := await queue.get()) is not None:
                fate = await send_batch(session, server, batch)
                _record(fate, journal, tally)
                progress.advance(len(batch), sum(i.source.size for i in batch))

        async def producer() -> None:
            for batch in batches:
                await queue.put(batch)
                await asyncio.sleep(0)  # let senders start on the first batches at once
            for _ in range(plan.concurrency):
                await queue.put(None)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(producer())
                for _ in range(plan.concurrency):
                    group.create_task(sender())
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None  # the first error ends the upload


def _record(fate: Fate, journal: Journal, tally: Tally) -> None:
    journal.record((item.source, item.sop_instance_uid) for item in fate.acknowledged)
    tally.stored += len(fate.acknowledged)
    tally.sent_bytes += sum(item.source.size for item in fate.acknowledged)
    tally.failed += [(item.source.key, reason) for item, reason in fate.failed]


def _classify(
    sources: Iterable[Source], journal: Journal, tally: Tally, progress: UploadProgress
) -> Iterator[Item]:
    """The items to send; every other source is counted (and its progress advanced) here."""
    seen: set[str] = set()
    for source in sources:
        if journal.acknowledged_uid(source) is not None:
            tally.already += 1
            progress.advance(1, source.size)
            continue
        try:
            with source.open() as stream:
                uid, sop_class = sop_instance_uid(stream)
        except (NotDicom, OSError) as exc:
            tally.failed.append((source.key, str(exc)))
            progress.advance(1, source.size)
            continue
        if sop_class == MEDIA_STORAGE_DIRECTORY:
            progress.advance(1, source.size)  # a DICOMDIR under another name: an index
            continue
        if uid in seen or journal.has_instance(uid):
            tally.duplicates += 1
            progress.advance(1, source.size)
            continue
        seen.add(uid)
        yield Item(source, uid)


def _batches(items: Iterable[Item], plan: UploadPlan) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= plan.batch_size or size + item.source.size > plan.batch_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.source.size
    if batch:
        yield batch
