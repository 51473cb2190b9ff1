"""Server CPU time, read from the processes of a target before and after a phase.

Throughput alone hides a server that is fast only because it burns every core; CPU seconds per
instance is the figure that predicts how many replicas a site needs. Split by role (stow,
indexer, PostgreSQL, NATS, Traefik, …) it shows which process a change saved in.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil

ProcessFinder = Callable[[], list[psutil.Process]]
CpuByRole = dict[str, float]
"""CPU seconds per role: a service's module name (``stow``, ``indexer``), or the executable's
name for the backing servers (``postgres``, ``nats-server``, ``traefik``, ``Orthanc``)."""


class CpuProbe:
    """Sums user + system CPU seconds of the processes ``find`` returns at each sample."""

    def __init__(self, find: ProcessFinder) -> None:
        self._find = find

    def processes(self) -> list[psutil.Process]:
        """The processes measured right now (for memory sampling)."""
        return self._find()

    def sample(self) -> float:
        return sum(self.sample_by_role().values())

    def sample_by_role(self) -> CpuByRole:
        """CPU seconds so far of each role's processes together (children of a service, such
        as PostgreSQL's backends, count under the role of the process tree's root name)."""
        totals: CpuByRole = {}
        for process in self._find():
            try:
                times = process.cpu_times()
                role = role_of(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            totals[role] = totals.get(role, 0.0) + times.user + times.system
        return totals


def role_of(process: psutil.Process) -> str:
    """``python -m stow`` is ``stow``; any other process is its executable's name."""
    cmdline = process.cmdline()
    if "-m" in cmdline[:-1]:
        return cmdline[cmdline.index("-m") + 1]
    return process.name()


def spent(before: CpuByRole, after: CpuByRole) -> CpuByRole:
    """CPU seconds each role spent between two samples (a role that appeared counts whole)."""
    return {role: after[role] - before.get(role, 0.0) for role in after}


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
