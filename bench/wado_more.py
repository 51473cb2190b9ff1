"""The WADO phases of issue 5 beyond whole-instance multipart retrieval: single-part instances,
a typical and a 1,000-instance series, study metadata of a typical and a 320-instance study,
frame 1 of native and compressed multi-frame instances (rendered JPEG: ``bench.rendered``), and
the wado processes' memory while a 2 GB study streams (PS3.18 §10.4, §9).

The first phase stores what the others read, through STOW with fresh UIDs, on every target.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from bench.client import Done, PoolResult, RequestFailed, multipart_related, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.report import Figure, rate

STORED = "transfer-syntax=*"
SMALL = "CT_small.dcm"
LARGE_SERIES, LARGE_STUDY_SERIES, LARGE_STUDY_PER_SERIES = 1000, 4, 80  # 320-instance study
MULTIFRAME = {
    "native": "emri_small.dcm",
    "JPEG baseline": "color3d_jpeg_baseline.dcm",
    "JPEG 2000": "emri_small_jpeg_2k_lossless.dcm",
}


@dataclass
class Fixtures:
    """What the setup phase stored on one target: (study, series, sop) triples."""

    large_series: tuple[str, str] | None = None
    large_study: str | None = None
    multiframe: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    large_series_bytes: int = 0


_FIXTURES: dict[str, Fixtures] = {}


def _fixtures(ctx: PhaseContext) -> Fixtures:
    return _FIXTURES.setdefault(ctx.target.label, Fixtures())


def _fresh(name: str, study: str, series: str) -> tuple[bytes, str]:
    path = get_testdata_file(name)
    assert path is not None, name
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), str(ds.SOPInstanceUID)


async def _store(ctx: PhaseContext, parts: list[bytes]) -> None:
    """STOW in batches of 50, four at a time; a refused batch fails the setup loudly."""
    batches = [parts[i : i + 50] for i in range(0, len(parts), 50)]

    async def send(batch: list[bytes]) -> Done:
        body, content_type = multipart_related(batch)
        headers = {"Content-Type": content_type, "Accept": "application/dicom+json"}
        url = f"{ctx.target.dicomweb_url}/studies"
        response = await ctx.client.post(url, content=body, headers=headers, read_timeout=300)
        if response.status_code != 200:
            raise RequestFailed(f"STOW HTTP {response.status_code}: {response.text[:200]}")
        return Done(units=len(batch), nbytes=len(body))

    result = await run_pool(batches, 4, 600, send)
    if result.errors:
        raise RuntimeError(f"storing the WADO fixtures failed: {result.first_error}")


def setup_phase() -> Phase:
    """Store the 1,000-instance series, the 320-instance study and the multi-frame files."""

    async def run(ctx: PhaseContext) -> list[Figure]:
        fixtures = _fixtures(ctx)
        study, series = generate_uid(), generate_uid()
        parts = [_fresh(SMALL, study, series)[0] for _ in range(LARGE_SERIES)]
        fixtures.large_series, fixtures.large_series_bytes = (study, series), sum(map(len, parts))
        fixtures.large_study = generate_uid()
        for _ in range(LARGE_STUDY_SERIES):
            series = generate_uid()
            parts += [_fresh(SMALL, fixtures.large_study, series)[0] for _ in range(80)]
        study, series = generate_uid(), generate_uid()
        for label, name in MULTIFRAME.items():
            data, sop = _fresh(name, study, series)
            parts.append(data)
            fixtures.multiframe[label] = (study, series, sop)
        started = time.perf_counter()
        await _store(ctx, parts)
        seconds = time.perf_counter() - started
        return [Figure("WADO fixtures: STOW batches of 50", len(parts) / seconds, "inst/s", True)]

    return run


def _pool_figures(name: str, result: PoolResult, unit: str) -> list[Figure]:
    note = error_note(result)
    return [
        Figure(name, rate(result.units_per_second), unit, True, note),
        Figure(f"{name}: MB/s", rate(result.megabytes_per_second), "MB/s", True),
        Figure(f"{name}: p50", result.percentile(0.5) * 1e3, "ms", False),
    ]


async def _get(ctx: PhaseContext, path: str, accept: str, minimum: int = 1) -> Done:
    url = path if path.startswith("http") else f"{ctx.target.dicomweb_url}/{path}"
    response = await ctx.client.get(url, headers={"Accept": accept}, read_timeout=300)
    if response.status_code != 200 or len(response.content) < minimum:
        raise RequestFailed(f"HTTP {response.status_code}, {len(response.content)} bytes")
    return Done(units=1, nbytes=len(response.content))


def _instance_path(study: str, series: str, sop: str) -> str:
    return f"studies/{study}/series/{series}/instances/{sop}"


def _repeat(count: int, quick: bool) -> int:
    return max(3, count // 8) if quick else count


async def _timed_gets(
    ctx: PhaseContext, jobs: list[str], concurrency: int, call: Callable[[str], Awaitable[Done]]
) -> PoolResult:
    return await run_pool(jobs, concurrency, ctx.plan.deadline_seconds, call)


def instance_single_part_phase(concurrency: int) -> Phase:
    """One instance per request as single-part ``application/dicom``, bytes as stored."""
    name = f"WADO-RS instance single-part, concurrency {concurrency}"

    async def run(ctx: PhaseContext) -> list[Figure]:
        stored = list(ctx.stored.values())[-ctx.plan.retrieve_count :]
        if not stored:
            return []
        jobs = [
            _instance_path(i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid)
            for i in stored
        ]
        accept = f"application/dicom; {STORED}"
        result = await _timed_gets(ctx, jobs, concurrency, lambda p: _get(ctx, p, accept))
        return _pool_figures(name, result, "inst/s")

    return run


def series_phase() -> Phase:
    """A typical series of the corpus and the 1,000-instance series, as multipart, stored."""
    accept = f'multipart/related; type="application/dicom"; {STORED}'

    async def run(ctx: PhaseContext) -> list[Figure]:
        figures: list[Figure] = []
        typical = _typical(ctx, by_series=True)
        large = _fixtures(ctx).large_series
        for label, key, count in (("typical", typical, 40), ("1,000-instance", large, 8)):
            if key is None:
                continue
            jobs = [f"studies/{key[0]}/series/{key[1]}"] * _repeat(count, ctx.plan.quick)
            result = await _timed_gets(ctx, jobs, 1, lambda p: _get(ctx, p, accept))
            name = f"WADO-RS {label} series"
            figures += _pool_figures(name, result, "series/s")
            figures.append(
                Figure(
                    f"{name}: inst/s", rate(_instances_per_second(ctx, key, result)), "inst/s", True
                )
            )
        return figures

    return run


def _instances_per_second(ctx: PhaseContext, key: tuple[str, str], result: PoolResult) -> float:
    large = _fixtures(ctx).large_series
    count = (
        LARGE_SERIES
        if key == large
        else sum(
            1 for i in ctx.stored.values() if (i.study_instance_uid, i.series_instance_uid) == key
        )
    )
    return result.units_per_second * count


def _typical(ctx: PhaseContext, by_series: bool) -> tuple[str, str] | None:
    """The study (or series) of the corpus with the median instance count."""
    counts: dict[tuple[str, str], int] = {}
    for i in ctx.stored.values():
        key = (i.study_instance_uid, i.series_instance_uid if by_series else "")
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    median = statistics.median_low(counts.values())
    return next(k for k, n in counts.items() if n == median)


def metadata_phase() -> Phase:
    """Study metadata, DICOM JSON: a typical study of the corpus and the 320-instance study."""

    async def run(ctx: PhaseContext) -> list[Figure]:
        figures: list[Figure] = []
        typical = _typical(ctx, by_series=False)
        large = _fixtures(ctx).large_study
        for label, study, count in (
            ("typical", typical[0] if typical else None, 100),
            (f"{LARGE_STUDY_SERIES * LARGE_STUDY_PER_SERIES}-instance", large, 40),
        ):
            if study is None:
                continue
            jobs = [f"studies/{study}/metadata"] * _repeat(count, ctx.plan.quick)
            result = await _timed_gets(
                ctx, jobs, 1, lambda p: _get(ctx, p, "application/dicom+json")
            )
            name = f"WADO-RS study metadata, {label} study"
            figures += [
                f for f in _pool_figures(name, result, "req/s") if "MB/s" not in f.operation
            ]
        return figures

    return run


def frames_phase() -> Phase:
    """Frame 1 of a multi-frame instance, as a viewer asks (multipart, bytes as stored)."""
    accept = f'multipart/related; type="application/octet-stream"; {STORED}'

    async def run(ctx: PhaseContext) -> list[Figure]:
        figures: list[Figure] = []
        for label, (study, series, sop) in _fixtures(ctx).multiframe.items():
            name = f"WADO-RS frame 1, {label} multi-frame"
            if label == "JPEG 2000" and ctx.target.label == "Orthanc":
                figures.append(
                    Figure(
                        f"{name}: p50", float("nan"), "ms", False, "Orthanc answers 500 (PEERS.md)"
                    )
                )
                continue
            path = f"{_instance_path(study, series, sop)}/frames/1"
            jobs = [path] * _repeat(200, ctx.plan.quick)
            result = await _timed_gets(ctx, jobs, 1, lambda p: _get(ctx, p, accept))
            figures += [
                f for f in _pool_figures(name, result, "req/s") if "MB/s" not in f.operation
            ]
        return figures

    return run
