"""Memory of the wado service while a 2 GB study streams (issue 5: < 300 MB RSS): the study
``bench.large`` stored (10 x 200 MiB in one request) is retrieved as multipart, bytes as
stored, and each wado process's resident memory is sampled every 50 ms (the largest is
reported). Our stack only: it needs the processes' command lines; peers are not split by verb.
"""

from __future__ import annotations

import asyncio
import time

import psutil

from bench.context import Phase, PhaseContext
from bench.report import Figure

ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
NUMBER_OF_STUDY_RELATED_INSTANCES = "00201208"


def _wado_processes(ctx: PhaseContext) -> list[psutil.Process]:
    found = []
    for process in ctx.target.cpu.processes() if ctx.target.cpu else []:
        try:
            if any(part == "wado" for part in process.cmdline()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


async def _large_study(ctx: PhaseContext) -> str | None:
    """The study of ten large instances that ``bench.large`` stored, found through QIDO."""
    response = await ctx.client.get(
        f"{ctx.target.dicomweb_url}/studies",
        params={"PatientName": "Bench^Large", "includefield": NUMBER_OF_STUDY_RELATED_INSTANCES},
    )
    if response.status_code != 200:
        return None
    for study in response.json():
        count = (study.get(NUMBER_OF_STUDY_RELATED_INSTANCES, {}).get("Value") or [0])[0]
        if int(count) >= 10:
            return str(study["0020000D"]["Value"][0])
    return None


class _PeakRss:
    """The highest resident memory any one wado process reached (the figure per replica:
    summing replicas, or another stack's processes that share the data folder, would
    measure the deployment, not the bound the service keeps)."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes
        self.peak = 0
        self.before = self._largest()  # what earlier phases left (numpy, codecs, caches)

    def _largest(self) -> int:
        sizes = [0]
        for process in self.processes:
            try:
                sizes.append(process.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return max(sizes)

    async def watch(self) -> None:
        while True:
            self.peak = max(self.peak, self._largest())
            await asyncio.sleep(0.05)


def stream_memory_phase() -> Phase:
    """GET the 2 GB study as multipart and report MB/s and the wado processes' peak RSS."""
    name = "WADO-RS 2 GB study, multipart"

    async def run(ctx: PhaseContext) -> list[Figure]:
        processes = _wado_processes(ctx)
        study = await _large_study(ctx) if processes and not ctx.plan.quick else None
        if study is None:
            return []
        peak = _PeakRss(processes)
        watcher = asyncio.create_task(peak.watch())
        received, started = 0, time.perf_counter()
        url = f"{ctx.target.dicomweb_url}/studies/{study}"
        async with ctx.client.stream(
            "GET", url, headers={"Accept": ACCEPT}, read_timeout=600
        ) as answer:
            status = answer.status_code
            async for chunk in answer.chunks():
                received += len(chunk)
        seconds = time.perf_counter() - started
        watcher.cancel()
        note = "" if status == 200 and received > 2e9 else f"HTTP {status}, {received} bytes"
        return [
            Figure(f"{name}: MB/s", received / 1e6 / seconds, "MB/s", True, note),
            Figure(f"{name}: peak RSS of a wado process", peak.peak / 2**20, "MiB", False),
            Figure(f"{name}: wado RSS growth", (peak.peak - peak.before) / 2**20, "MiB", False),
        ]

    return run
