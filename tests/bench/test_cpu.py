"""The benchmark's CPU split: real child processes, named by role, each charged its own time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from bench.cpu import CpuProbe, process_tree, role_of, spent
from bench.stow import cpu_figures
from tests.polling import eventually

_BURN = (
    "import time\nend = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\nprint('burnt', flush=True)\ntime.sleep(60)\n"
)


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[bytes]]:
    """``python -m timeit`` spending CPU: a service-like ``-m`` process of a known role."""
    command = [sys.executable, "-m", "timeit", "-n", "1", "-r", "1", _BURN]
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    with child:
        yield child
        child.kill()


def test_a_module_process_is_its_module_and_others_their_executable(
    burner: subprocess.Popen[bytes],
) -> None:
    # Until the child has exec'd, it is a copy of this process: wait for its own command line.
    assert eventually(lambda: role_of(psutil.Process(burner.pid)) == "timeit", seconds=10)
    me = psutil.Process()
    assert role_of(me) in {"pytest", me.name()}


def test_each_role_is_charged_what_its_processes_spent(burner: subprocess.Popen[bytes]) -> None:
    probe = CpuProbe(process_tree(burner.pid))
    before = probe.sample_by_role()
    assert burner.stdout is not None
    assert burner.stdout.readline() == b"burnt\n"  # its 0.3 s are spent; it sleeps now
    split = spent(before, probe.sample_by_role())
    assert set(split) == {"timeit"}
    assert 0.1 < split["timeit"] <= 0.6
    assert spent({"timeit": 1.0}, {"timeit": 1.5, "postgres": 0.25}) == {
        "timeit": 0.5,
        "postgres": 0.25,
    }  # a role that appeared between two samples counts whole


def test_the_cpu_split_is_figures_per_instance_largest_first() -> None:
    figures = cpu_figures("STOW", {"stow": 0.2, "postgres": 0.1, "idle": 0.0}, units=100)
    assert [(f.operation, round(f.value, 3)) for f in figures] == [
        ("STOW: server CPU", 3.0),
        ("STOW: CPU stow", 2.0),
        ("STOW: CPU postgres", 1.0),
    ]
