"""``python -m dicomstack run`` as ``make`` runs it: signals during shutdown, and children that
crash while it watches."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomstack import ownership
from dicomstack.settings import StackSettings

pytestmark = pytest.mark.integration


def _alive(pid: int, argv: list[str]) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1] == [
            a.encode() for a in argv
        ]
    except OSError:
        return False


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """The launcher on free ports in ``tmp_path``, once it says it is running."""
    ports = {f"DICOMWEB_STACK_{n.upper()}": "0" for n in StackSettings.model_fields if "port" in n}
    env = {**os.environ, **ports, "DICOMWEB_STACK_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dicomstack", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "running;" in line:
                break
        else:
            pytest.fail("the launcher never said it was running")
        yield process, tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads((tmp_path / ownership.PIDS_FILE).read_text())
            for entry in recorded.values():
                if _alive(entry["pid"], entry["argv"]):
                    os.kill(entry["pid"], signal.SIGKILL)


def test_a_second_sigterm_during_shutdown_still_stops_every_child(
    launcher: tuple[subprocess.Popen[str], Path],
) -> None:
    process, data_dir = launcher
    children = json.loads((data_dir / ownership.PIDS_FILE).read_text())
    assert "postgres" in children
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # make forwards its own, and impatient users more
    assert process.wait(5) == 0
    left = [name for name, e in children.items() if _alive(e["pid"], e["argv"])]
    assert left == []
