"""DELETE and change-feed phases (issue 6): instances deleted per second, and feed entries
read per second through the Microsoft-compatible ``/changefeed`` pages."""

from __future__ import annotations

import time

from bench.client import Done, PoolResult, RequestFailed, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.corpus import Instance
from bench.report import Figure, rate

FEED_PAGE = 100  # the v1 maximum


def delete_phase(share: float, concurrency: int) -> Phase:
    """Delete ``share`` of what was stored, one instance per request, newest first (the
    retrieve phases took theirs from the oldest)."""
    name = f"DELETE instance, concurrency {concurrency}"

    async def run(ctx: PhaseContext) -> list[Figure]:
        stored = list(ctx.stored.values())
        victims = stored[len(stored) - max(1, int(len(stored) * share)) :] if stored else []
        result, cpu = await ctx.measure_cpu(
            lambda: run_pool(
                victims, concurrency, ctx.plan.deadline_seconds, lambda i: delete_instance(ctx, i)
            )
        )
        note = error_note(result) or ("nothing stored to delete" if not victims else "")
        figures = [
            Figure(name, rate(result.units_per_second), "inst/s", True, note),
            Figure(f"{name}: p50", result.percentile(0.5) * 1e3, "ms", False),
        ]
        if cpu is not None and result.units:
            figures.append(
                Figure(f"{name}: server CPU", cpu / result.units * 1e3, "ms/inst", False)
            )
        return figures

    return run


async def delete_instance(ctx: PhaseContext, instance: Instance) -> Done:
    """``DELETE`` one instance (Microsoft's URL shape); it is no longer ``stored``."""
    url = (
        f"{ctx.target.dicomweb_url}/studies/{instance.study_instance_uid}"
        f"/series/{instance.series_instance_uid}/instances/{instance.sop_instance_uid}"
    )
    response = await ctx.client.delete(url)
    if response.status_code not in (200, 202, 204):
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    ctx.stored.pop(instance.sop_instance_uid, None)
    return Done(units=1, nbytes=0)


def feed_read_phase(include_metadata: bool) -> Phase:
    """Read the whole feed from the start, page after page (each page names the next)."""
    name = "change feed read" + (", with metadata" if include_metadata else "")

    async def run(ctx: PhaseContext) -> list[Figure]:
        result = await _read_feed(ctx, include_metadata)
        note = error_note(result)
        return [
            Figure(name, rate(result.units_per_second), "entries/s", True, note),
            Figure(f"{name}: p50 page of {FEED_PAGE}", result.percentile(0.5) * 1e3, "ms", False),
        ]

    return run


async def _read_feed(ctx: PhaseContext, include_metadata: bool) -> PoolResult:
    result, after = PoolResult(), 0
    params = {"limit": str(FEED_PAGE), "includemetadata": str(include_metadata).lower()}
    started = time.perf_counter()
    deadline = started + ctx.plan.deadline_seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        url = f"{ctx.target.dicomweb_url}/changefeed"
        response = await ctx.client.get(url, params={**params, "offset": str(after)})
        if response.status_code != 200:
            result.errors += 1
            result.first_error = f"HTTP {response.status_code}: {response.text[:200]}"
            break
        page = response.json()
        if not page:
            break
        result.latencies.append(time.perf_counter() - began)
        result.units += len(page)
        result.nbytes += len(response.content)
        after = page[-1]["sequence"]
    result.wall_seconds = time.perf_counter() - started
    return result
