"""The soak's memory verdict: the warm-up window, growth after it, the least-squares slope, and
the sampling of a real process tree."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.memorytrend import MIB, MemorySampler, Trend, report, tree_bytes, warm_up_seconds


def test_warm_up_is_five_minutes_or_a_third_of_a_short_run() -> None:
    assert warm_up_seconds(30 * 60) == 300
    assert warm_up_seconds(15 * 60) == 300
    assert warm_up_seconds(60) == 20


def test_growth_and_slope_count_only_after_the_warm_up() -> None:
    # 100 MiB → 200 MiB during the warm-up (caches filling), then 200 → 210 over 10 minutes.
    trend = Trend([(0.0, 100 * MIB), (300.0, 200 * MIB), (600.0, 205 * MIB), (900.0, 210 * MIB)])
    assert trend.growth(300.0) == pytest.approx(0.05)
    assert trend.slope_mib_per_minute(300.0) == pytest.approx(1.0)


def test_report_names_each_process_that_grew_past_ten_percent() -> None:
    steady = Trend([(0.0, 50 * MIB), (300.0, 100 * MIB), (1800.0, 105 * MIB)])
    leaking = Trend([(0.0, 50 * MIB), (300.0, 100 * MIB), (1800.0, 111 * MIB)])
    table, grew = report({"qido": steady, "wado": leaking}, 1800.0)
    assert grew == ["wado"]
    assert "wado" in table and "11.0%" in table


def test_a_process_tree_is_sampled_with_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alone = tree_bytes(child.pid)
        with_child = tree_bytes(os.getpid())
        assert alone > 1 * MIB
        assert with_child > alone
        sampler = MemorySampler()
        sampler.sample({"child": child.pid, "gone": None})
        assert list(sampler.trends) == ["child"]
    finally:
        child.kill()
        child.wait()
    assert tree_bytes(child.pid) == 0
