"""Memory of each process of our stack over a long run, so a leak shows as a slope.

Each component is sampled as the sum over its process tree (PostgreSQL's backends belong to
PostgreSQL), as PSS where the kernel tells it (shared pages split between the processes that
map them, so summing a tree does not count a library twice) and RSS otherwise.

The verdict compares each component with itself after a warm-up: caches, pools and imports
fill in the first minutes and are not a leak. The warm-up is ``WARM_UP_SECONDS`` (five
minutes), or a third of the run when the run is shorter than fifteen minutes, so a short
smoke run still has a warm-up and a measured part.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

WARM_UP_SECONDS = 300.0
MAX_GROWTH = 0.10  # past the warm-up, a component may grow by at most 10 %
MIB = 1 << 20


def warm_up_seconds(run_seconds: float) -> float:
    """Five minutes, or a third of a run shorter than fifteen minutes."""
    return min(WARM_UP_SECONDS, run_seconds / 3)


def _footprint(process: psutil.Process) -> int:
    try:
        info = process.memory_full_info()
        return int(getattr(info, "pss", 0) or info.rss)
    except psutil.AccessDenied:
        return int(process.memory_info().rss)


def tree_bytes(pid: int) -> int:
    """PSS (or RSS) of ``pid`` and its descendants; 0 when it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += _footprint(process)
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass
class Trend:
    """One component's samples: (seconds since the start, bytes)."""

    samples: list[tuple[float, int]] = field(default_factory=list)

    def at(self, seconds: float) -> int:
        """The first sample at or after ``seconds`` (the last one if none is)."""
        return next((b for t, b in self.samples if t >= seconds), self.samples[-1][1])

    def growth(self, warm_up: float) -> float:
        """Growth from the end of the warm-up to the end, as a fraction."""
        base = self.at(warm_up)
        return (self.samples[-1][1] - base) / base if base else 0.0

    def slope_mib_per_minute(self, warm_up: float) -> float:
        """Least-squares slope of the samples after the warm-up."""
        points = [(t / 60, b / MIB) for t, b in self.samples if t >= warm_up]
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
                self.trends.setdefault(name, Trend()).samples.append((now, tree_bytes(pid)))


def report(trends: Mapping[str, Trend], run_seconds: float) -> tuple[str, list[str]]:
    """A table (memory after the warm-up and at the end, growth, slope) and the components
    that grew past ``MAX_GROWTH``."""
    warm_up = warm_up_seconds(run_seconds)
    header = f"{'process':<10} {f'MiB @{warm_up / 60:.1f} min':>14} {'MiB end':>9}"
    lines = [f"{header} {'growth':>8} {'MiB/min':>8}"]
    grew: list[str] = []
    for name, trend in sorted(trends.items()):
        growth = trend.growth(warm_up)
        slope = trend.slope_mib_per_minute(warm_up)
        base, end = trend.at(warm_up) / MIB, trend.samples[-1][1] / MIB
        lines.append(f"{name:<10} {base:>14.1f} {end:>9.1f} {growth * 100:>7.1f}% {slope:>8.2f}")
        if growth > MAX_GROWTH:
            grew.append(name)
    return "\n".join(lines), grew
