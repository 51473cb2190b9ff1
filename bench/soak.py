"""``python -m bench --soak MINUTES``: a mixed load (store, search, retrieve, delete) on our
stack for MINUTES while each process's memory is sampled, so a leak shows as a slope.

Workers pick a verb by weight: store a small instance (pydicom's CT_small with new UIDs), search
studies, retrieve a stored instance as stored, or delete one. The load keeps at most
``KEPT_INSTANCES`` instances alive (older ones are deleted), so the archive, and with it
PostgreSQL's caches, reach a steady size rather than growing with the run. The exit code is 1
when a process's private memory grew more than 10 % after its warm-up (``bench.memorytrend``:
shared memory, PostgreSQL's shared buffers, fills up to its configured size and is reported
beside it, with PSS).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import io
import json
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from bench.client import HttpClient, RequestFailed, ensure_loopback, make_client
from bench.memorytrend import MemorySampler, report, samples_json, warm_up_seconds
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

WORKERS = 4
WEIGHTS = {"store": 4, "search": 3, "retrieve": 3, "delete": 1}
KEPT_INSTANCES = 500
SAMPLE_SECONDS = 5.0
# Each of our processes, by the launcher's component name.
MEASURED = ("stow", "qido", "wado", "delow", "indexer", "postgres", "nats", "gateway")
AS_STORED = "application/dicom; transfer-syntax=*"


@dataclass
class Load:
    """What the workers share: the live instances and the count of answers per verb."""

    dicomweb_url: str
    template: Dataset
    live: collections.deque[tuple[str, str, str]] = field(default_factory=collections.deque)
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    shared_memory_bound: str = "?"

    def instance_url(self, uids: tuple[str, str, str]) -> str:
        study, series, sop = uids
        return f"{self.dicomweb_url}/studies/{study}/series/{series}/instances/{sop}"


async def _store(client: HttpClient, load: Load) -> int:
    ds = copy.deepcopy(load.template)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    headers = {"Content-Type": "application/dicom"}
    answer = await client.post(f"{load.dicomweb_url}/studies", buffer.getvalue(), headers)
    if answer.status_code in (200, 202):
        load.live.append((ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    return answer.status_code


async def _search(client: HttpClient, load: Load) -> int:
    params = {"limit": "20", "includefield": "all"}
    return (await client.get(f"{load.dicomweb_url}/studies", params=params)).status_code


async def _retrieve(client: HttpClient, load: Load) -> int:
    if not load.live:
        return await _store(client, load)
    url = load.instance_url(random.choice(load.live))
    return (await client.get(url, headers={"Accept": AS_STORED})).status_code


async def _delete(client: HttpClient, load: Load) -> int:
    if not load.live:
        return await _store(client, load)
    study, _, _ = load.live.popleft()
    return (await client.delete(f"{load.dicomweb_url}/studies/{study}")).status_code


VERBS = {"store": _store, "search": _search, "retrieve": _retrieve, "delete": _delete}


async def _worker(client: HttpClient, load: Load, until: float) -> None:
    verbs, weights = list(WEIGHTS), list(WEIGHTS.values())
    while time.monotonic() < until:
        # past the kept count the oldest instance goes first, so the archive stays the same size
        full = len(load.live) > KEPT_INSTANCES
        verb = "delete" if full else random.choices(verbs, weights)[0]
        try:
            status = str(await VERBS[verb](client, load))
        except RequestFailed:
            status = "transport error"
        load.answers[verb, status] += 1


def _template() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    assert isinstance(path, str)
    return pydicom.dcmread(path)


def _pids(stack: Stack) -> dict[str, int | None]:
    return {name: getattr(stack.component(name), "pid", None) for name in MEASURED}


async def _sample(stack: Stack, sampler: MemorySampler, until: float, every: float) -> None:
    """Sample off the event loop (reading a process's memory map takes a while)."""
    while time.monotonic() < until:
        await asyncio.to_thread(sampler.sample, _pids(stack))
        await asyncio.sleep(every)
    await asyncio.to_thread(sampler.sample, _pids(stack))


async def _soak(stack: Stack, seconds: float, sampler: MemorySampler) -> Load:
    load = Load(stack.dicomweb_url, _template())
    load.shared_memory_bound = await _postgres_shared_memory(stack.postgres_url)
    ensure_loopback(load.dicomweb_url)
    until = time.monotonic() + seconds
    every = min(SAMPLE_SECONDS, max(1.0, seconds / 60))
    async with make_client(concurrency=WORKERS) as client:
        workers = [_worker(client, load, until) for _ in range(WORKERS)]
        await asyncio.gather(_sample(stack, sampler, until, every), *workers)
    return load


async def _postgres_shared_memory(url: str) -> str:
    """PostgreSQL's shared memory as configured (``shared_buffers`` and the rest of its
    segment): the bound of the ``shared mem`` figure its tree can reach."""
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW shared_memory_size"))
    finally:
        await conn.close()


def _answers_table(load: Load) -> str:
    lines = [f"{'verb':<9} {'requests':>9} {'errors':>7}  answers"]
    for verb in WEIGHTS:
        mine = {status: n for (v, status), n in load.answers.items() if v == verb}
        errors = sum(n for status, n in mine.items() if not status.startswith("2"))
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(mine.items()))
        lines.append(f"{verb:<9} {sum(mine.values()):>9} {errors:>7}  {shown}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Start our stack in ``--stack-data``, soak it for ``args.soak`` minutes, report."""
    seconds = float(args.soak) * 60
    data_dir = Path(args.stack_data).resolve()
    stack = Stack(StackSettings.ephemeral(data_dir))
    stack.start()
    sampler = MemorySampler()
    try:
        _say(f"soak: {args.soak} min of mixed load, warm-up {warm_up_seconds(seconds):.0f} s")
        load = asyncio.run(_soak(stack, seconds, sampler))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    table, grew = report(sampler.trends, seconds)
    if args.json:
        args.json.write_text(json.dumps(samples_json(sampler.trends), indent=1) + "\n")
    print(_answers_table(load))
    print(table)
    print(
        "private memory is judged; shared memory (PostgreSQL's shared buffers) fills up to its"
        f" configured size, {load.shared_memory_bound}, and is reported only"
    )
    if grew:
        print(f"private memory grew more than 10 % after the warm-up: {', '.join(grew)}")
        return 1
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
