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


def descendants(pid: int) -> ProcessFinder:
    """A finder for the children of ``pid`` only (the stack we launched, not the bench itself)."""

    def find() -> list[psutil.Process]:
        try:
            return list(psutil.Process(pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    return find
