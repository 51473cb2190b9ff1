"""STOW-RS phases (PS3.18 §10.5): instances per second by request shape and concurrency.

Each phase stores instances no other phase sent, so every request is a real store rather than
a duplicate, and records what the server acknowledged for the search and retrieve phases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.client import Done, RequestFailed, multipart_related, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.corpus import Instance
from bench.cpu import CpuByRole
from bench.report import Figure, rate

REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE_UID = "00081155"


def stow_phase(share: float, per_request: int, concurrency: int) -> Phase:
    """A STOW phase over ``share`` of the corpus, ``per_request`` instances in each request."""
    shape = "1/request" if per_request == 1 else f"{per_request}/request"
    name = f"STOW {shape}, concurrency {concurrency}"

    async def run(ctx: PhaseContext) -> list[Figure]:
        count = ctx.unsent if share >= 1 else math.ceil(len(ctx.corpus.instances) * share)
        instances = ctx.take(count)
        batches = [instances[i : i + per_request] for i in range(0, len(instances), per_request)]

        result, cpu = await ctx.measure_cpu_by_role(
            lambda: run_pool(
                batches, concurrency, ctx.plan.deadline_seconds, lambda b: _store(ctx, b)
            )
        )
        note = error_note(result)
        figures = [
            Figure(name, rate(result.units_per_second), "inst/s", True, note),
            Figure(f"{name}: MB/s", rate(result.megabytes_per_second), "MB/s", True),
        ]
        if cpu is not None and result.units:
            figures += cpu_figures(name, cpu, result.units)
        return figures

    return run


def cpu_figures(name: str, cpu: CpuByRole, units: int, unit: str = "ms/inst") -> list[Figure]:
    """Server CPU milliseconds per instance (or per ``unit``): all processes, then each role
    that spent any (stow, indexer, postgres, nats-server, traefik, …), largest first."""
    figures = [Figure(f"{name}: server CPU", sum(cpu.values()) / units * 1e3, unit, False)]
    for role, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        if seconds > 0:
            figures.append(Figure(f"{name}: CPU {role}", seconds / units * 1e3, unit, False))
    return figures


async def post_stow(ctx: PhaseContext, files: Sequence[bytes]) -> tuple[int, int, list[str]]:
    """POST one multipart/related STOW request: its status, body size and the SOP Instance
    UIDs the response references; any status but 200 / 202 raises ``RequestFailed``."""
    body, content_type = multipart_related(files)
    response = await ctx.client.post(
        f"{ctx.target.dicomweb_url}/studies",
        content=body,
        headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
    )
    if response.status_code not in (200, 202):
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    return response.status_code, len(body), _referenced_uids(response.json())


async def _store(ctx: PhaseContext, batch: Sequence[Instance]) -> Done:
    """STOW one batch and count the instances the response references."""
    status, nbytes, referenced = await post_stow(ctx, [ctx.corpus.read(i) for i in batch])
    by_uid = {i.sop_instance_uid: i for i in batch}
    stored = 0
    for uid in referenced:
        if uid in by_uid:
            ctx.stored[uid] = by_uid[uid]
            stored += 1
    missing = len(batch) - stored
    problem = f"HTTP {status}: {missing} instances not referenced" if missing else None
    return Done(units=stored, nbytes=nbytes, failed=missing, problem=problem)


def _referenced_uids(answer: object) -> list[str]:
    """SOP Instance UIDs in the response's Referenced SOP Sequence (PS3.18 Table 10.5.3-1)."""
    if not isinstance(answer, dict):
        return []
    items = answer.get(REFERENCED_SOP_SEQUENCE, {}).get("Value", [])
    uids: list[str] = []
    for item in items:
        uids += item.get(REFERENCED_SOP_INSTANCE_UID, {}).get("Value", [])
    return uids
