"""The undeclared-search latencies of the QIDO scale phases come with the server's CPU per
query: on a busy machine the latency of a statement run by parallel workers follows the load,
its CPU does not."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.client import make_client
from bench.context import PhaseContext, Plan, Target
from bench.corpus import Corpus
from bench.cpu import CpuProbe, process_tree
from bench.qidotags import _latency
from tests.polling import eventually


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def count_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real HTTP server answering ``/instances/count`` with ``{"count": 1}``; its pid."""
    (tmp_path / "instances").mkdir()
    (tmp_path / "instances" / "count").write_bytes(b'{"count": 1}')
    port = _free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL) as child:
        assert eventually(lambda: _answers(port), seconds=10)
        yield f"http://127.0.0.1:{port}", child.pid
        child.kill()


def test_the_latency_figures_carry_the_server_cpu_per_query(
    count_server: tuple[str, int], tmp_path: Path
) -> None:
    url, pid = count_server
    paths = ["/instances/count?StudyDate=20200101-20201231&BitsAllocated=16"] * 8

    async def run() -> list[str]:
        async with make_client(concurrency=2) as client:
            target = Target("server", url, None, CpuProbe(process_tree(pid)))
            ctx = PhaseContext(target, client, Corpus(tmp_path, [], "t"), Plan.for_run(True))
            figures = await _latency(ctx, "count", paths)
        units = {f.operation: f.unit for f in figures}
        assert units["count: p50"] == "ms"
        assert units["count: server CPU"] == "ms/query"
        return list(units)

    assert "count: p95" in asyncio.run(run())
