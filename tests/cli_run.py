"""Running the ``dicomweb`` command line in tests: in process (typer's runner) for speed, or
as the installed ``python -m dicomweb`` process where a test must signal or stream it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from dataclasses import dataclass

from typer.testing import CliRunner

from dicomweb.cli import app

SUMMARY = re.compile(r"stored (\d+), duplicates (\d+), already uploaded (\d+), failed (\d+)")


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, int]:
        found = SUMMARY.search(self.stdout)
        assert found, self.stdout + self.stderr
        stored, duplicates, already, failed = map(int, found.groups())
        return {"stored": stored, "duplicates": duplicates, "already": already, "failed": failed}


def dicomweb(*args: str, stdin: str | None = None) -> Ran:
    """``dicomweb ARGS`` in this process."""
    result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def spawn(*args: str) -> subprocess.Popen[str]:
    """``python -m dicomweb ARGS`` as its own process, its output piped, and interruptible with
    SIGINT as at a terminal even when the tests run as a background job (whose children
    inherit SIGINT ignored, which Python then keeps)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dicomweb", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
