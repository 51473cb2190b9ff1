"""Memory of each process of our stack over a long run, so a leak shows as a slope.

Each component is sampled as the sum over its process tree (PostgreSQL's backends belong to
PostgreSQL), in three figures read from ``/proc/PID/smaps``:

- **private**: the pages only this process holds, outside shared mappings: ``Private_Dirty``
  (heap, stacks, written copies) and ``Private_Clean`` of anonymous mappings. A leak in a heap,
  a cache or a per-connection state shows here, so this is the figure the verdict judges. Clean
  pages of mapped files (program code, libraries) are left out: they are the file's page cache,
  "private" only while no other process on the machine maps the same file, so they jump when an
  unrelated process using the same binary starts or stops (seen: Traefik 25 → 103 MiB, NATS
  +14 MiB, when another stack on the machine stopped), and they are bounded by the files' size.
- **shared memory**: the PSS of shared mappings (``MAP_SHARED``; for PostgreSQL its shared
  buffers, at most ``shared_buffers`` by configuration). It grows while the buffers fill with
  pages the load touches and stops at that bound, so it is reported, not judged.
- **PSS**: everything, shared pages split between the processes that map them (libraries
  counted once per tree), as the operating system would account the component.

Where ``smaps`` cannot be read (another user's process without privilege) the three figures
fall back to ``psutil``'s USS / PSS or RSS.

The verdict compares each component with itself after a warm-up: caches, pools and imports
fill in the first minutes and are not a leak. The warm-up is ``WARM_UP_SECONDS`` (five
minutes), or a third of the run when the run is shorter than fifteen minutes, so a short
smoke run still has a warm-up and a measured part.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

WARM_UP_SECONDS = 300.0
MAX_GROWTH = 0.10  # past the warm-up, a component's private memory may grow by at most 10 %
MIB = 1 << 20
KIB = 1 << 10


@dataclass(frozen=True)
class Footprint:
    """One process's (or one tree's summed) memory, in bytes."""

    private: int = 0
    shared_memory: int = 0
    pss: int = 0
    processes: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.private + other.private,
            self.shared_memory + other.shared_memory,
            self.pss + other.pss,
            self.processes + other.processes,
        )


def parse_smaps(lines: Iterable[str]) -> Footprint:
    """Sum ``/proc/PID/smaps``: private pages outside shared mappings, the PSS of shared
    mappings (``sh`` in ``VmFlags``, which ends each mapping's block), and the total PSS."""
    private = shared = pss = mapping_private = mapping_pss = 0
    file_backed = False
    for line in lines:
        key, _, value = line.partition(":")
        if "-" in key and " " in key:  # a mapping's header: range, perms, offset, dev, inode
            file_backed = _is_file(key + _ + value)
        elif key == "Private_Dirty" or (key == "Private_Clean" and not file_backed):
            mapping_private += int(value.split()[0]) * KIB
        elif key == "Pss":
            mapping_pss += int(value.split()[0]) * KIB
        elif key == "VmFlags":
            if "sh" in value.split():
                shared += mapping_pss
            else:
                private += mapping_private
            pss += mapping_pss
            mapping_private = mapping_pss = 0
    return Footprint(private, shared, pss, 1)


def _is_file(header: str) -> bool:
    """Whether a mapping maps a file (a program or library): its clean pages are the file's
    page cache, private or shared only as other processes on the machine map the same file."""
    fields = header.split(maxsplit=5)
    return len(fields) == 6 and fields[5].startswith("/")


def footprint(process: psutil.Process) -> Footprint:
    """One process's memory; raises ``psutil.NoSuchProcess`` when it is gone."""
    try:
        smaps_path = Path(f"/proc/{process.pid}/smaps")
        with smaps_path.open(encoding="ascii", errors="replace") as smaps:
            return parse_smaps(smaps)
    except FileNotFoundError as exc:
        raise psutil.NoSuchProcess(process.pid) from exc
    except PermissionError:
        pass
    try:
        info = process.memory_full_info()
        return Footprint(int(info.uss), 0, int(getattr(info, "pss", 0) or info.rss), 1)
    except psutil.AccessDenied:
        rss = int(process.memory_info().rss)
        return Footprint(rss, 0, rss, 1)


def tree_footprint(pid: int) -> Footprint:
    """The summed memory of ``pid`` and its descendants; empty when it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return Footprint()
    total = Footprint()
    for process in processes:
        try:
            total += footprint(process)
        except psutil.NoSuchProcess:
            continue
    return total


def warm_up_seconds(run_seconds: float) -> float:
    """Five minutes, or a third of a run shorter than fifteen minutes."""
    return min(WARM_UP_SECONDS, run_seconds / 3)


@dataclass
class Trend:
    """One component's samples: (seconds since the start, footprint)."""

    samples: list[tuple[float, Footprint]] = field(default_factory=list)

    def at(self, seconds: float) -> Footprint:
        """The first sample at or after ``seconds`` (the last one if none is)."""
        return next((f for t, f in self.samples if t >= seconds), self.samples[-1][1])

    def growth(self, warm_up: float) -> float:
        """Growth of private memory from the end of the warm-up to the end, as a fraction."""
        base = self.at(warm_up).private
        return (self.samples[-1][1].private - base) / base if base else 0.0

    def slope_mib_per_minute(self, warm_up: float) -> float:
        """Least-squares slope of private memory in the samples after the warm-up."""
        points = [(t / 60, f.private / MIB) for t, f in self.samples if t >= warm_up]
        if len(points) < 2:
            return 0.0
        mean_t = sum(t for t, _ in points) / len(points)
        mean_m = sum(m for _, m in points) / len(points)
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        return sum((t - mean_t) * (m - mean_m) for t, m in points) / spread if spread else 0.0


class MemorySampler:
    """Samples every component whose process id ``pids`` gives at each call (a restarted
    component gets a new one)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.trends: dict[str, Trend] = {}

    def sample(self, pids: Mapping[str, int | None]) -> None:
        now = time.monotonic() - self.started
        for name, pid in pids.items():
            if pid is not None:
                self.trends.setdefault(name, Trend()).samples.append((now, tree_footprint(pid)))


def _row(name: str, trend: Trend, warm_up: float) -> str:
    base, end = trend.at(warm_up), trend.samples[-1][1]
    growth, slope = trend.growth(warm_up), trend.slope_mib_per_minute(warm_up)
    return (
        f"{name:<10} {base.private / MIB:>10.1f} {end.private / MIB:>9.1f}"
        f" {growth * 100:>7.1f}% {slope:>8.2f}"
        f" {base.shared_memory / MIB:>9.1f} {end.shared_memory / MIB:>9.1f}"
        f" {base.pss / MIB:>9.1f} {end.pss / MIB:>9.1f} {end.processes:>5}"
    )


def report(trends: Mapping[str, Trend], run_seconds: float) -> tuple[str, list[str]]:
    """A table per component (private memory after the warm-up and at the end, its growth and
    slope, then shared memory and PSS at the same two points) and the components whose private
    memory grew past ``MAX_GROWTH``."""
    warm_up = warm_up_seconds(run_seconds)
    at = f"@{warm_up / 60:.1f}m"
    lines = [
        f"{'':<10} {'private MiB (judged)':^38} {'shared mem MiB':^19} {'PSS MiB':^19}",
        f"{'process':<10} {at:>10} {'end':>9} {'growth':>8} {'MiB/min':>8}"
        f" {at:>9} {'end':>9} {at:>9} {'end':>9} {'procs':>5}",
    ]
    grew: list[str] = []
    for name, trend in sorted(trends.items()):
        lines.append(_row(name, trend, warm_up))
        if trend.growth(warm_up) > MAX_GROWTH:
            grew.append(name)
    return "\n".join(lines), grew


def samples_json(trends: Mapping[str, Trend]) -> dict[str, list[dict[str, float]]]:
    """Every sample, for plotting or a second look: seconds and the three figures in MiB."""
    return {
        name: [
            {
                "seconds": round(t, 1),
                "private_mib": round(f.private / MIB, 2),
                "shared_memory_mib": round(f.shared_memory / MIB, 2),
                "pss_mib": round(f.pss / MIB, 2),
                "processes": f.processes,
            }
            for t, f in trend.samples
        ]
        for name, trend in trends.items()
    }
