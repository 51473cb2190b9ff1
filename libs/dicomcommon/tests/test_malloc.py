"""The malloc arena cap each service sets at start (``dicomcommon.web.malloc``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

PROBE = "from dicomcommon.web import malloc; print(malloc.limit_arenas())"


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_arenas_are_capped_on_glibc_and_left_alone_elsewhere() -> None:
    assert _probe() == str(platform.libc_ver()[0] == "glibc")


def test_an_operators_setting_wins() -> None:
    assert _probe(MALLOC_ARENA_MAX="4") == "False"
