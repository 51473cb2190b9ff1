"""One launcher per data directory, and cleanup after one that died without stopping its children.

Children run in their own sessions, so a launcher killed with SIGKILL leaves them running on
the data directory (PostgreSQL holding its lock, NATS its store, every port taken). The launcher
holds an exclusive lock on the data directory and records its children's pids; the next launcher
that gets the lock knows any recorded child still alive is a leftover and stops it first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from dicomstack.errors import StackError
from dicomstack.processes import ChildProcess

LOCK_FILE = "stack.lock"
PIDS_FILE = "stack-children.json"
STOP_SECONDS = 15.0


class DataDirLock:
    """An exclusive ``flock`` released by the kernel when the launcher dies, however it dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise StackError(
                f"another launcher is using {self.path.parent}: stop it, "
                "or set DICOMWEB_STACK_DATA_DIR"
            ) from exc
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def record(data_dir: Path, children: Iterable[ChildProcess]) -> None:
    """Remember each running child's pid and command line, for ``reap`` after a crash."""
    running = {c.name: {"pid": c.pid, "argv": c.argv} for c in children if c.running}
    (data_dir / PIDS_FILE).write_text(json.dumps(running, indent=2))


def reap(data_dir: Path) -> list[str]:
    """Stop the recorded children that still run (the caller holds the lock, so their launcher
    is gone). A pid is signalled only if its command line is still the recorded one."""
    try:
        recorded = json.loads((data_dir / PIDS_FILE).read_text())
    except (OSError, ValueError):
        return []
    leftovers = {
        name: entry["pid"]
        for name, entry in recorded.items()
        if _command_line(entry["pid"]) == entry["argv"]
    }
    for pid in leftovers.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _wait_gone(list(leftovers.values()))
    (data_dir / PIDS_FILE).unlink(missing_ok=True)
    return sorted(leftovers)


def _command_line(pid: int) -> list[str] | None:
    """The process's argv from /proc; None where it is gone or /proc is absent (then we never
    signal: a wrong guess could hit an unrelated process that reused the pid)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + STOP_SECONDS
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _command_line(pid)]  # a zombie's is empty
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
