"""``python -m bench.scaleout``: STOW throughput with 1 vs 2 replicas of STOW and the indexer.

Each configuration gets a fresh stack (free ports, its own data folder) and the same corpus;
the STOW phases are the main bench's. Both stacks run on this machine, so the figure shows
what the split costs and gains here: with as many cores as replicas need, two replicas can
take twice the load; on a small machine the processes share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import corpus
from bench.context import Phase, Plan, Target, add_run_arguments, run_phases
from bench.cpu import CpuProbe, launched_by
from bench.report import Figure, Results, render_table, write_json
from bench.stow import stow_phase
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

CONFIGURATIONS: dict[str, dict[str, int]] = {
    "2x stow+indexer": {"stow": 2, "indexer": 2},
    "1x stow+indexer": {},
}
PHASES: list[Phase] = [
    stow_phase(share=0.5, per_request=1, concurrency=8),
    stow_phase(share=1.0, per_request=20, concurrency=4),
]


@contextmanager
def scaled_stack(data_dir: Path, label: str, replicas: dict[str, int]) -> Iterator[Target]:
    """A fresh stack with ``replicas``, removed after a clean stop."""
    data_dir = data_dir.resolve()
    stack = Stack(StackSettings.ephemeral(data_dir, replicas=replicas))
    stack.start()
    try:
        cpu = CpuProbe(launched_by(os.getpid(), str(data_dir)))
        yield Target(label, stack.dicomweb_url, None, cpu)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _report(label: str) -> Callable[[Figure], None]:
    def report(figure: Figure) -> None:
        print(f"  {label}: {figure.operation}: {figure.value:.2f} {figure.unit}")

    return report


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    plan = Plan.for_run(args.quick)
    count = args.instances or (100 if args.quick else 600)
    data = corpus.load_corpus(args.corpus_dir, count, args.seed, corpus.new_token())
    results: Results = {}
    for label, replicas in CONFIGURATIONS.items():
        print(f"starting the stack with {label}", flush=True)
        with scaled_stack(args.stack_data, label, replicas) as target:
            results[label] = asyncio.run(run_phases(target, data, plan, PHASES, _report(label)))
    print(render_table(results))
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"load average {load:.1f} on {cores} cores (figures are noisy when it exceeds cores/2)")
    if args.json:
        write_json(args.json, results, {"instances": count, "quick": args.quick})
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    add_run_arguments(parser, "600, 100 with --quick", Path(".data/bench-scaleout"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
