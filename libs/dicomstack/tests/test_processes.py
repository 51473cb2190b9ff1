"""The supervised child process, exercised with a stand-in command (a tiny HTTP server)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dicomstack.errors import StackError
from dicomstack.ports import free_ports
from dicomstack.processes import ChildProcess, http_ok


def _http_server(tmp_path: Path) -> ChildProcess:
    port = free_ports("127.0.0.1", 1)[0]
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    health = http_ok(f"http://127.0.0.1:{port}/")
    return ChildProcess("web", argv, log_path=tmp_path / "web.log", health=health)


def test_start_waits_until_healthy_and_stop_ends_it(tmp_path: Path) -> None:
    child = _http_server(tmp_path)
    child.start(timeout=10)
    assert child.running and child.health()
    child.stop()
    assert not child.running and not child.health()


def test_kill_leaves_it_crashed_until_restarted(tmp_path: Path) -> None:
    child = _http_server(tmp_path)
    child.start(timeout=10)
    child.kill()
    assert child.crashed and not child.health()
    child.restart(timeout=10)
    assert child.running and child.health()
    child.stop()


def test_exit_during_startup_reports_the_log_tail(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    child = ChildProcess("bad", argv, log_path=tmp_path / "bad.log", health=lambda: False)
    with pytest.raises(StackError, match="boom"):
        child.start(timeout=10)
