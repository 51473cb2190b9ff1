"""``python -m bench --cli-upload``: ``dicomweb upload`` of the corpus against the bench's own
batch STOW client, on one stack in one run.

Both send 20 instances per request, 4 requests at a time (the CLI's defaults and the bench's
batch phase). Each pass stores a whole copy of the corpus under a token of its own, so no pass
meets another's duplicates. The order is bench, CLI, CLI, bench, so the index growing with every
pass weighs on both alike. The CLI runs as its own process, as a user would run it: it walks a
folder of files, reads each header, keeps its resume journal and reports progress; the bench
client reads the same files from the corpus cache. The target: the CLI at >= 90 % of the bench
client's instances per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import corpus
from bench.client import ensure_loopback, make_client
from bench.context import PhaseContext, Plan, Target
from bench.report import Figure, Results, render_table, write_json
from bench.stow import stow_phase
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

PER_REQUEST, CONCURRENCY = 20, 4
ORDER = ("bench client", "dicomweb upload", "dicomweb upload", "bench client")
PASS_DEADLINE_SECONDS = 3600.0


def run(args: argparse.Namespace) -> int:
    """With the main bench's ``--instances``, ``--quick``, ``--corpus-dir``, ``--seed``,
    ``--stack-data`` and ``--json``."""
    count = args.instances or (200 if args.quick else 20_000)
    cached = corpus.load_corpus(args.corpus_dir, count, args.seed, corpus.PLACEHOLDER)
    data_dir = Path(args.stack_data).resolve()
    stack = Stack(StackSettings.ephemeral(data_dir))
    stack.start()
    rates: dict[str, list[float]] = {label: [] for label in ORDER}
    try:
        ensure_loopback(stack.dicomweb_url)
        for label in ORDER:
            data = corpus.load_corpus(args.corpus_dir, count, args.seed, corpus.new_token())
            if label == "bench client":
                rate = asyncio.run(_bench_client_pass(stack.dicomweb_url, data))
            else:
                rate = _cli_pass(stack.dicomweb_url, data, data_dir.parent)
            _say(f"  {label}: {rate:.1f} inst/s")
            rates[label].append(rate)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    name = (
        f"STOW of {len(cached.instances)} instances, {PER_REQUEST}/request, {CONCURRENCY} at once"
    )
    results: Results = {
        label: [Figure(name, statistics.median(values), "inst/s", True)]
        for label, values in rates.items()
    }
    print(render_table(results))
    bench_rate, cli_rate = (statistics.median(rates[label]) for label in ORDER[:2])
    print(
        f"dicomweb upload at {cli_rate / bench_rate * 100:.0f} % of the bench client"
        " (target: >= 90 %)"
    )
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average {load:.1f} on {cores} cores (figures are noisy when it exceeds cores/2)")
    if args.json:
        write_json(args.json, results, {"instances": count, "passes": list(ORDER)})
    return 0


async def _bench_client_pass(dicomweb_url: str, data: corpus.Corpus) -> float:
    """The bench's batch STOW phase over the whole corpus: its instances per second."""
    target = Target("ours", dicomweb_url, None, None)
    plan = Plan(
        quick=False, deadline_seconds=PASS_DEADLINE_SECONDS, query_repeats=1, retrieve_count=0
    )
    async with make_client(concurrency=CONCURRENCY * 2) as client:
        ctx = PhaseContext(target, client, data, plan)
        figure = (await stow_phase(1.0, PER_REQUEST, CONCURRENCY)(ctx))[0]
    if figure.note:
        _say(f"    bench client: {figure.note}")
    return figure.value


def _cli_pass(dicomweb_url: str, data: corpus.Corpus, scratch_parent: Path) -> float:
    """``dicomweb upload`` of a folder holding the corpus under this pass's token: its
    instances per second, from start to exit, with its journal in the same scratch folder."""
    with tempfile.TemporaryDirectory(dir=scratch_parent, prefix="cli-upload-") as scratch:
        folder = Path(scratch) / "corpus"
        for instance in data.instances:
            path = folder / instance.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.read(instance))
        command = [sys.executable, "-m", "dicomweb", "upload", str(folder), "--url", dicomweb_url]
        command += ["--journal", str(Path(scratch) / "journal.sqlite"), "--no-progress"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"dicomweb upload failed ({done.returncode}): {done.stderr[-2000:]}")
    return len(data.instances) / seconds


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
