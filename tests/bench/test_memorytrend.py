"""The soak's memory verdict: the warm-up window, growth of private memory after it (shared
memory such as PostgreSQL's shared buffers reported beside it, not judged), the least-squares
slope, and the sampling of a real process tree from its memory maps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.memorytrend import (
    MIB,
    Footprint,
    MemorySampler,
    Trend,
    parse_smaps,
    report,
    tree_footprint,
    warm_up_seconds,
)

# A child that maps 32 MiB of shared anonymous memory (as PostgreSQL maps its shared buffers)
# and 16 MiB of its own heap, touches both, says so and waits.
_MAPPER = """
import mmap, sys, time
shared = mmap.mmap(-1, 32 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
shared.write(b"x" * (32 << 20))
heap = bytearray(b"y" * (16 << 20))
print("ready", flush=True)
time.sleep(60)
"""


def _private(mib: float, shared: float = 0.0) -> Footprint:
    return Footprint(int(mib * MIB), int(shared * MIB), int((mib + shared) * MIB), 1)


def test_warm_up_is_five_minutes_or_a_third_of_a_short_run() -> None:
    assert warm_up_seconds(30 * 60) == 300
    assert warm_up_seconds(15 * 60) == 300
    assert warm_up_seconds(60) == 20


def test_growth_and_slope_count_only_after_the_warm_up() -> None:
    # 100 MiB → 200 MiB during the warm-up (caches filling), then 200 → 210 over 10 minutes.
    trend = Trend([(0.0, _private(100)), (300.0, _private(200)), (600.0, _private(205))])
    trend.samples.append((900.0, _private(210)))
    assert trend.growth(300.0) == pytest.approx(0.05)
    assert trend.slope_mib_per_minute(300.0) == pytest.approx(1.0)


def test_report_names_each_process_whose_private_memory_grew_past_ten_percent() -> None:
    steady = Trend([(0.0, _private(50)), (300.0, _private(100)), (1800.0, _private(105))])
    leaking = Trend([(0.0, _private(50)), (300.0, _private(100)), (1800.0, _private(111))])
    table, grew = report({"qido": steady, "wado": leaking}, 1800.0)
    assert grew == ["wado"]
    assert "wado" in table and "11.0%" in table


def test_shared_memory_filling_to_its_bound_is_reported_but_not_judged() -> None:
    # PostgreSQL's buffers fill from 100 to 250 MiB while its private memory stays flat.
    filling = Trend([(0.0, _private(40, 50)), (300.0, _private(40, 100))])
    filling.samples.append((1800.0, _private(41, 250)))
    table, grew = report({"postgres": filling}, 1800.0)
    assert grew == []
    assert "250.0" in table


def test_smaps_are_split_into_private_pages_shared_mappings_and_file_pages() -> None:
    smaps = """\
55d0c0000000-55d0c0100000 rw-p 00000000 00:00 0                          [heap]
Rss:                1024 kB
Pss:                1024 kB
Private_Clean:         0 kB
Private_Dirty:      1024 kB
VmFlags: rd wr mr mw me ac
7f0000000000-7f0010000000 rw-s 00000000 00:01 1234                       /dev/zero (deleted)
Rss:                8192 kB
Pss:                4096 kB
Private_Clean:         0 kB
Private_Dirty:      2048 kB
VmFlags: rd wr sh mr mw me ms
7f0020000000-7f0020100000 r-xp 00000000 08:01 42                         /usr/lib/libc.so.6
Rss:                 512 kB
Pss:                 128 kB
Private_Clean:        64 kB
Private_Dirty:         0 kB
VmFlags: rd ex mr mw me
"""
    footprint = parse_smaps(smaps.splitlines())
    assert footprint.private == 1024 * 1024  # the heap; libc's clean pages are the file's
    assert footprint.shared_memory == 4096 * 1024
    assert footprint.pss == (1024 + 4096 + 128) * 1024


def test_a_process_tree_is_sampled_with_its_children_and_shared_memory_apart() -> None:
    child = subprocess.Popen([sys.executable, "-c", _MAPPER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        alone = tree_footprint(child.pid)
        with_child = tree_footprint(os.getpid())
        assert alone.shared_memory >= 32 * MIB
        assert 16 * MIB <= alone.private < 32 * MIB  # its heap, not the shared mapping
        assert alone.pss >= alone.private + alone.shared_memory
        assert with_child.private > alone.private and with_child.processes >= 2
        sampler = MemorySampler()
        sampler.sample({"child": child.pid, "gone": None})
        assert list(sampler.trends) == ["child"]
    finally:
        child.kill()
        child.communicate()
    assert tree_footprint(child.pid) == Footprint()
