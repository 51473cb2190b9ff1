"""QIDO at scale, searching an attribute no typed column holds (issue 16): SeriesDate,
first undeclared (matched against each series' stored attributes, not index-backed), then
declared as a series-level extended query tag: the reindex rate over the whole archive, and
the same search through the tag's index. Also the issue's undeclared-search target, an
instance search that reads the stored metadata of about 20,000 instances.

Runs after the scale load (``qidoscale``), on an archive whose every series has a SeriesDate
(its study's date).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable

import orjson

from bench.client import run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.cpu import spent
from bench.population import Study
from bench.qido import _search
from bench.report import Figure
from bench.stow import cpu_figures

_TAG = [{"path": "SeriesDate", "level": "Series"}]
_REINDEX_DEADLINE = 4 * 3600.0
UNDECLARED_SCOPE = 20_000
"""Instances whose stored metadata the issue's undeclared-search target reads per query."""


def _paths(studies: list[Study], repeats: int) -> list[str]:
    rng = random.Random(len(studies) + 16)
    picked = rng.sample(studies, min(repeats, len(studies)))
    return [f"/series?SeriesDate={s.date}&limit=100" for s in picked]


def _scoped_paths(studies: list[Study], repeats: int) -> tuple[list[str], int]:
    """Instance counts by BitsAllocated (undeclared, in every image's stored metadata) within
    StudyDate windows of at least ``UNDECLARED_SCOPE`` instances (the whole archive when it is
    smaller): a count reads every instance of its window. Also the mean number of instances a
    window holds."""
    days: Counter[str] = Counter()
    for study in studies:
        days[study.date] += study.instance_count
    per_day = sorted(days.items())
    totals = [0, *itertools.accumulate(n for _, n in per_day)]
    windows, last = [], 0
    for first in range(len(per_day)):  # the shortest window from each day on
        last = max(last, first)
        while last < len(per_day) and totals[last + 1] - totals[first] < UNDECLARED_SCOPE:
            last += 1
        if last < len(per_day):
            windows.append((first, last))
    windows = windows or [(0, len(per_day) - 1)]
    rng = random.Random(len(studies) + 20)
    picked = [rng.choice(windows) for _ in range(repeats)]
    scanned = sum(totals[j + 1] - totals[i] for i, j in picked) // max(1, len(picked))
    dates = [(per_day[i][0], per_day[j][0]) for i, j in picked]
    paths = [f"/instances/count?StudyDate={a}-{b}&BitsAllocated=16" for a, b in dates]
    return paths, scanned


async def _latency(ctx: PhaseContext, title: str, paths: list[str], note: str = "") -> list[Figure]:
    """p50 / p95, then the server CPU per query by process role: on a busy machine the
    latency of a statement with parallel workers follows the load, its CPU does not."""
    await run_pool(paths[:3], 1, 120.0, lambda p: _search(ctx, p))  # warm-up
    result, cpu = await ctx.measure_cpu_by_role(
        lambda: run_pool(paths, 1, ctx.plan.deadline_seconds, lambda p: _search(ctx, p))
    )
    note = error_note(result) or f"{len(result.latencies)} queries{note}"
    figures = [
        Figure(f"{title}: p50", result.percentile(0.50) * 1e3, "ms", False, note),
        Figure(f"{title}: p95", result.percentile(0.95) * 1e3, "ms", False),
    ]
    if cpu is not None and result.latencies:
        figures += cpu_figures(title, cpu, len(result.latencies), "ms/query")
    return figures


def tag_phases(population: Callable[[], list[Study]], instances: int, repeats: int) -> list[Phase]:
    """Undeclared search, reindex, extended-query-tag search (in this order)."""

    async def undeclared(ctx: PhaseContext) -> list[Figure]:
        title = f"QIDO@{instances:,}: series by undeclared SeriesDate (stored metadata)"
        figures = await _latency(ctx, title, _paths(population(), repeats))
        paths, scanned = _scoped_paths(population(), max(5, repeats // 4))  # ~1 s each
        title = (
            f"QIDO@{instances:,}: instances/count by undeclared BitsAllocated within "
            f"{UNDECLARED_SCOPE:,} instances (stored metadata)"
        )
        return figures + await _latency(ctx, title, paths, f", {scanned:,} instances read each")

    async def reindex(ctx: PhaseContext) -> list[Figure]:
        before = ctx.target.cpu.sample_by_role() if ctx.target.cpu else None
        seconds = await _reindex(ctx)
        name = f"QIDO@{instances:,}: reindex a new extended query tag"
        figures = [Figure(name, instances / seconds, "inst/s", True, f"{seconds:.1f} s")]
        if ctx.target.cpu is not None and before is not None:  # where the time went, by process
            figures += cpu_figures(name, spent(before, ctx.target.cpu.sample_by_role()), instances)
        return figures

    async def declared(ctx: PhaseContext) -> list[Figure]:
        title = f"QIDO@{instances:,}: series by SeriesDate, an extended query tag"
        return await _latency(ctx, title, _paths(population(), repeats))

    return [undeclared, reindex, declared]


async def _reindex(ctx: PhaseContext) -> float:
    """Declare the tag and wait for its reindex operation; the seconds it took."""
    base = ctx.target.dicomweb_url
    started = time.monotonic()
    answer = await ctx.client.post(
        f"{base}/extendedquerytags",
        orjson.dumps(_TAG),
        headers={"Content-Type": "application/json"},
    )
    if answer.status_code != 202:
        raise RuntimeError(f"adding the tag: HTTP {answer.status_code} {answer.text[:200]}")
    operation = f"{base}/operations/{orjson.loads(answer.content)['id']}"
    while time.monotonic() - started < _REINDEX_DEADLINE:
        status = orjson.loads((await ctx.client.get(operation)).content)["status"]
        if status == "Completed":
            return time.monotonic() - started
        if status == "Failed":
            raise RuntimeError(f"the reindex failed: {operation}")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the reindex took over {_REINDEX_DEADLINE:.0f} s")
