"""Push latency of the change feed (issue 6): from the STOW answer to the subscriber holding
the entry, for a JetStream subscriber on ``dicom.feed.>`` and for a Server-Sent Events client.

Each sample deletes an acknowledged instance (untimed) and stores it again, one at a time,
so every store is a fresh ``Create`` entry. A push that arrives before the STOW answer counts
as 0 ms: the entry was already delivered when the client learned of its store.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

import nats
import orjson
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.changefeed import delete_instance
from bench.client import RequestFailed, multipart_related
from bench.context import Phase, PhaseContext
from bench.corpus import Instance
from bench.report import Figure

Arrivals = dict[str, float]  # SOP Instance UID -> perf_counter() when its Create arrived


def push_latency_phase(samples: int) -> Phase:
    async def run(ctx: PhaseContext) -> list[Figure]:
        victims = list(ctx.stored.values())[-samples:]
        if not victims or not await _has_feed(ctx):
            return []
        nats_arrivals: Arrivals = {}
        sse_arrivals: Arrivals = {}
        async with _nats_subscriber(ctx, nats_arrivals), _sse_subscriber(ctx, sse_arrivals):
            answered = await _restore_each(ctx, victims)
            await asyncio.sleep(1.0)  # let the last pushes land
        return [
            *_figures("push latency, NATS subscriber", answered, nats_arrivals),
            *_figures("push latency, SSE client", answered, sse_arrivals),
        ]

    return run


async def _has_feed(ctx: PhaseContext) -> bool:
    response = await ctx.client.get(f"{ctx.target.dicomweb_url}/changefeed/latest")
    return response.status_code in (200, 204)


async def _restore_each(ctx: PhaseContext, victims: list[Instance]) -> Arrivals:
    """Delete then store each instance again; when each STOW answered."""
    answered: Arrivals = {}
    deadline = time.perf_counter() + ctx.plan.deadline_seconds
    for instance in victims:
        if time.perf_counter() > deadline:
            break
        try:
            await delete_instance(ctx, instance)
            await _store_one(ctx, instance)
        except RequestFailed:
            continue  # a missing sample, reported as not received
        answered[instance.sop_instance_uid] = time.perf_counter()
        ctx.stored[instance.sop_instance_uid] = instance
    return answered


async def _store_one(ctx: PhaseContext, instance: Instance) -> None:
    body, content_type = multipart_related([ctx.corpus.read(instance)])
    url = f"{ctx.target.dicomweb_url}/studies"
    response = await ctx.client.post(url, content=body, headers={"Content-Type": content_type})
    if response.status_code != 200:
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")


def _figures(name: str, answered: Arrivals, arrivals: Arrivals) -> list[Figure]:
    latencies = sorted(max(0.0, arrivals[u] - t) for u, t in answered.items() if u in arrivals)
    if not answered:
        return []
    missing = len(answered) - len(latencies)
    note = f"{missing} of {len(answered)} entries not received" if missing else ""
    return [
        Figure(f"{name}: p50", _percentile(latencies, 0.50) * 1e3, "ms", False, note),
        Figure(f"{name}: p95", _percentile(latencies, 0.95) * 1e3, "ms", False),
    ]


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def _record(arrivals: Arrivals, data: bytes) -> None:
    entry = orjson.loads(data)
    if entry.get("action") in ("Create", "Update"):
        arrivals.setdefault(entry["sopInstanceUid"], time.perf_counter())


@contextlib.asynccontextmanager
async def _nats_subscriber(ctx: PhaseContext, arrivals: Arrivals) -> AsyncIterator[None]:
    """An ordered JetStream consumer of new entries; nothing when the target has no NATS."""
    if ctx.target.nats_url is None:
        yield
        return
    nc = await nats.connect(ctx.target.nats_url)
    js = nc.jetstream()

    async def on_message(message: Msg) -> None:
        _record(arrivals, message.data)

    await js.subscribe(
        "dicom.feed.>", cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    try:
        yield
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def _sse_subscriber(ctx: PhaseContext, arrivals: Arrivals) -> AsyncIterator[None]:
    """``/changefeed/stream`` from the current latest entry, read in a background task."""
    latest = await ctx.client.get(f"{ctx.target.dicomweb_url}/changefeed/latest")
    after = latest.json()["sequence"] if latest.status_code == 200 else 0
    ready = asyncio.Event()

    async def listen() -> None:
        url = f"{ctx.target.dicomweb_url}/changefeed/stream"
        params = {"after": str(after), "includemetadata": "false"}
        async with ctx.client.stream("GET", url, params=params, read_timeout=math.inf) as response:
            ready.set()
            async for line in response.lines():
                if line.startswith("data: "):
                    _record(arrivals, line[6:].encode())

    task = asyncio.create_task(listen())
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await ready.wait()
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
