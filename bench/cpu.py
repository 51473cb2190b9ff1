"""Server CPU time, read from the processes of a target before and after a phase.

Throughput alone hides a server that is fast only because it burns every core; CPU seconds per
instance is the figure that predicts how many replicas a site needs.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil

ProcessFinder = Callable[[], list[psutil.Process]]


class CpuProbe:
    """Sums user + system CPU seconds of the processes ``find`` returns at each sample."""

    def __init__(self, find: ProcessFinder) -> None:
        self._find = find

    def processes(self) -> list[psutil.Process]:
        """The processes measured right now (for memory sampling)."""
        return self._find()

    def sample(self) -> float:
        total = 0.0
        for process in self._find():
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system
        return total


def process_tree(pid: int) -> ProcessFinder:
    """A finder for ``pid`` and all its descendants, looked up afresh at every sample."""

    def find() -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    return find


def launched_by(pid: int, data_dir: str) -> ProcessFinder:
    """The children of ``pid`` plus any daemon that names ``data_dir`` on its command line
    (PostgreSQL detaches from its launcher through ``pg_ctl``), with their descendants."""

    def find() -> list[psutil.Process]:
        roots = [p for p in psutil.process_iter(["cmdline"]) if _mentions(p, data_dir)]
        found: dict[int, psutil.Process] = {}
        for root in roots:
            found.update((p.pid, p) for p in process_tree(root.pid)())
        found.update((p.pid, p) for p in process_tree(pid)())
        found.pop(pid, None)
        return list(found.values())

    return find


def _mentions(process: psutil.Process, text: str) -> bool:
    cmdline = process.info.get("cmdline") or []
    return any(text in part for part in cmdline)
