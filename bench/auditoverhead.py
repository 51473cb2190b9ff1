"""``python -m bench --audit-overhead``: STOW throughput with the audit trail on and off, in
one stack and one run.

The STOW service is restarted with ``DICOMWEB_AUDIT_ENABLED=false`` or with its default (on)
before each measurement, in the order off, on / on, off / off, on (so neither always comes
first and drift on a shared machine falls on both alike); each stores instances no other sent
(1 instance per request, the shape where a per-request cost shows most). The target is an
overhead within 5 %. Each side's figure is the median of its rounds, so one round slowed by
something else on the machine does not decide it. Beside throughput, the servers' CPU
milliseconds per stored instance (every process of the stack) show the trail's cost even when
other work on the machine makes throughput noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
from pathlib import Path

from bench import corpus
from bench.client import ensure_loopback, make_client
from bench.context import PhaseContext, Plan, Target
from bench.cpu import CpuProbe, launched_by
from bench.report import Figure, Results, render_table, write_json
from bench.stow import stow_phase
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

AUDIT_ENABLED = "DICOMWEB_AUDIT_ENABLED"
CONFIGURATIONS: dict[str, str | None] = {"audit off": "false", "audit on": None}
ROUNDS = 3
PER_REQUEST, CONCURRENCY = 1, 8


Rounds = dict[str, dict[str, list[float]]]
"""By configuration, by figure name (instances per second, server CPU ms per instance)."""


async def _rounds(stack: Stack, data: corpus.Corpus, plan: Plan, cpu: CpuProbe) -> Rounds:
    """The figures of each round, by configuration."""
    target = Target("ours", stack.dicomweb_url, None, cpu)
    ensure_loopback(target.dicomweb_url)
    rates: Rounds = {label: {} for label in CONFIGURATIONS}
    share = 1 / (ROUNDS * len(CONFIGURATIONS))
    async with make_client(concurrency=16) as client:
        ctx = PhaseContext(target, client, data, plan)
        for round_number in range(ROUNDS):
            order = list(CONFIGURATIONS.items())
            for label, enabled in order if round_number % 2 == 0 else reversed(order):
                await asyncio.to_thread(stack.restart_with, "stow", {AUDIT_ENABLED: enabled})
                figures = await stow_phase(share, PER_REQUEST, CONCURRENCY)(ctx)
                said = ", ".join(f"{f.value:.2f} {f.unit}" for f in figures if f.unit != "MB/s")
                _say(f"  round {round_number + 1}, {label}: {said} {figures[0].note}")
                for figure in figures:
                    if figure.unit != "MB/s":
                        rates[label].setdefault(figure.operation, []).append(figure.value)
    return rates


def run(args: argparse.Namespace) -> int:
    """With the main bench's ``--instances``, ``--quick``, ``--corpus-dir``, ``--seed``,
    ``--stack-data`` and ``--json``."""
    quick = bool(args.quick)
    plan = Plan.for_run(quick)
    count = args.instances or (120 if quick else 1200)
    data = corpus.load_corpus(args.corpus_dir, count, args.seed, corpus.new_token())
    data_dir = Path(args.stack_data).resolve()
    stack = Stack(StackSettings.ephemeral(data_dir))
    stack.start()
    try:
        cpu = CpuProbe(launched_by(os.getpid(), str(data_dir)))
        rates = asyncio.run(_rounds(stack, data, plan, cpu))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results: Results = {
        label: [
            Figure(name, statistics.median(values), *_unit(name))
            for name, values in by_name.items()
        ]
        for label, by_name in rates.items()
    }
    print(render_table(results))
    off, on = ({f.operation: f.value for f in results[label]} for label in CONFIGURATIONS)
    rate_name = next(name for name in off if _unit(name)[0] == "inst/s")
    print(
        f"audit overhead: {(off[rate_name] - on[rate_name]) / off[rate_name] * 100:+.1f} % of STOW"
        " throughput (target: <= 5 %)"
    )
    cpu_name = next((name for name in off if name.endswith("server CPU")), None)
    if cpu_name is not None and cpu_name in on:
        extra = (on[cpu_name] - off[cpu_name]) / off[cpu_name] * 100
        print(f"audit cost: {extra:+.1f} % of the servers' CPU per stored instance")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average {load:.1f} on {cores} cores (figures are noisy when it exceeds cores/2)")
    if args.json:
        write_json(args.json, results, {"instances": count, "quick": quick, "rounds": ROUNDS})
    return 0


def _unit(name: str) -> tuple[str, bool]:
    """The unit of a STOW phase figure and whether more is better."""
    cpu = name.endswith("server CPU") or ": CPU " in name
    return ("ms/inst", False) if cpu else ("inst/s", True)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
