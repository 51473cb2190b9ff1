"""WADO-RS and WADO-URI retrieve phases (PS3.18 §10.4, §9): instances and megabytes per second
for whole stored instances, the bytes a viewer or a migration pulls most."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pydicom

from bench.client import Answer, Done, PoolResult, RequestFailed, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.corpus import Instance
from bench.report import Figure, rate

ACCEPT_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
"""PS3.18 §8.7.3.5.2: ``*`` asks for the stored transfer syntax, so no transcoding is timed."""


def wado_rs_phase(concurrency: int) -> Phase:
    """Retrieve stored instances one request each, as multipart/related, the bytes unchanged."""
    name = f"WADO-RS instance, concurrency {concurrency}"

    async def run(ctx: PhaseContext) -> list[Figure]:
        jobs = _jobs(ctx)
        result, cpu = await ctx.measure_cpu(
            lambda: run_pool(jobs, concurrency, ctx.plan.deadline_seconds, lambda i: _get(ctx, i))
        )
        return _figures(name, result, cpu, jobs)

    return run


def wado_uri_phase(concurrency: int = 1) -> Phase:
    """The classic single-object retrieve, skipped where the target has no WADO-URI root.

    Each request names the stored transfer syntax (``transferSyntax``), so every target sends
    the stored bytes: without it PS3.18 §9.4.2.4 asks for Explicit VR Little Endian, which
    decompresses most of the corpus, while Orthanc's WADO-URI always sends the file as stored.
    """
    name = f"WADO-URI instance (stored syntax), concurrency {concurrency}"

    async def run(ctx: PhaseContext) -> list[Figure]:
        if ctx.target.wado_uri_url is None:
            return []
        jobs = _jobs(ctx)
        syntaxes = {i.sop_instance_uid: _stored_syntax(ctx, i) for i in jobs}
        result, cpu = await ctx.measure_cpu(
            lambda: run_pool(
                jobs,
                concurrency,
                ctx.plan.deadline_seconds,
                lambda i: _get_uri(ctx, i, syntaxes[i.sop_instance_uid]),
            )
        )
        return _figures(name, result, cpu, jobs)

    return run


def _jobs(ctx: PhaseContext) -> list[Instance]:
    """The next ``retrieve_count`` stored instances after those earlier retrieve phases took,
    so a phase does not ride on the page cache its predecessor warmed."""
    stored = list(ctx.stored.values())
    if not stored:
        return []
    first, ctx.retrieved = ctx.retrieved, ctx.retrieved + ctx.plan.retrieve_count
    return [stored[n % len(stored)] for n in range(first, ctx.retrieved)]


def _figures(
    name: str, result: PoolResult, cpu: float | None, jobs: list[Instance]
) -> list[Figure]:
    note = error_note(result) or ("nothing stored to retrieve" if not jobs else "")
    figures = [
        Figure(name, rate(result.units_per_second), "inst/s", True, note),
        Figure(f"{name}: MB/s", rate(result.megabytes_per_second), "MB/s", True),
        Figure(f"{name}: p50", result.percentile(0.5) * 1e3, "ms", False),
    ]
    if cpu is not None and result.units:
        figures.append(Figure(f"{name}: server CPU", cpu / result.units * 1e3, "ms/inst", False))
    return figures


async def _get(ctx: PhaseContext, instance: Instance) -> Done:
    url = (
        f"{ctx.target.dicomweb_url}/studies/{instance.study_instance_uid}"
        f"/series/{instance.series_instance_uid}/instances/{instance.sop_instance_uid}"
    )
    return _checked(await ctx.client.get(url, headers={"Accept": ACCEPT_STORED}), instance)


def _stored_syntax(ctx: PhaseContext, instance: Instance) -> str:
    header = pydicom.dcmread(io.BytesIO(ctx.corpus.read(instance)), stop_before_pixels=True)
    return str(header.file_meta.TransferSyntaxUID)


async def _get_uri(ctx: PhaseContext, instance: Instance, syntax: str) -> Done:
    assert ctx.target.wado_uri_url is not None
    params = {
        "requestType": "WADO",
        "studyUID": instance.study_instance_uid,
        "seriesUID": instance.series_instance_uid,
        "objectUID": instance.sop_instance_uid,
        "contentType": "application/dicom",
        "transferSyntax": syntax,
    }
    # "/" stays literal: Orthanc does not decode %2F in contentType.
    url = f"{ctx.target.wado_uri_url}?{urlencode(params, safe='/')}"
    return _checked(await ctx.client.get(url), instance)


def _checked(response: Answer, instance: Instance) -> Done:
    """A 200 whose body is at least the stored file's size; anything else is a failure."""
    if response.status_code != 200:
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    if len(response.content) < instance.size:
        raise RequestFailed(f"{len(response.content)} bytes for a {instance.size}-byte instance")
    return Done(units=1, nbytes=len(response.content))
