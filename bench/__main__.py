"""``python -m bench``: build (or reuse) the corpus, measure each target in turn, print a table.

Targets run one after another, never at once, so on a small machine they do not compete for
the same cores; each one's phases see the same corpus with the same run token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from bench import (
    auditoverhead,
    authoverhead,
    cliupload,
    corpus,
    dimse,
    orthanc,
    qidoscale,
    rendered,
    scaleout,
    soak,
    targets,
)
from bench.context import Phase, Plan, Target, add_run_arguments, run_phases
from bench.phases import PHASES, RENDERED_PHASES, STOW_PHASES
from bench.report import Figure, Results, render_table, write_json

TargetOpener = Callable[[], contextlib.AbstractContextManager[Target]]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.scale_out:
        return scaleout.main(_scale_out_argv(args))
    if args.auth_overhead:
        return authoverhead.main(["--quick"] if args.quick else [])
    if args.audit_overhead:
        return auditoverhead.run(args)
    if args.cli_upload:
        return cliupload.run(args)
    if args.soak:
        return soak.run(args)
    if args.dimse:
        return dimse.run(args)
    plan = Plan.for_run(args.quick)
    token = corpus.new_token()
    phases, data = _phases_and_corpus(args, token)
    _warn_if_busy()
    results: Results = {}
    try:
        for label, opener in _openers(args):
            _say(f"starting {label}")
            with opener() as target:
                _say(f"measuring {target.label} at {target.dicomweb_url}")
                figures = run_phases(target, data, plan, phases, _report)
                results[target.label] = asyncio.run(figures)
    except (orthanc.OrthancUnavailable, targets.StackUnavailable, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    rendered.shared_figures(results)
    print(render_table(results))
    if args.json:
        meta: dict[str, object] = {"instances": len(data.instances), "quick": args.quick}
        meta |= {"token": token, "load_average": os.getloadavg()[0]}
        meta |= {"qido_scale": args.qido_scale}
        write_json(args.json, results, meta)
    return 0


def _warn_if_busy() -> None:
    """Figures from a loaded machine mislead; say so where the reader sees the numbers."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores / 2:
        _say(f"warning: load average {load:.1f} on {cores} cores; figures will be noisy")


def _openers(args: argparse.Namespace) -> Iterator[tuple[str, TargetOpener]]:
    """Ours (or the given URL) first, then Orthanc when asked."""
    if args.target:
        yield args.target, lambda: targets.url_target("target", args.target, args.wado_uri)
    elif not args.orthanc_only:
        yield "our stack", lambda: targets.stack_target(args.stack_data)
    if args.orthanc or args.orthanc_only:
        yield "Orthanc", lambda: targets.orthanc_target(args.orthanc_port)


def _phases_and_corpus(args: argparse.Namespace, token: str) -> tuple[list[Phase], corpus.Corpus]:
    """The default phases over the file corpus, or with ``--qido-scale`` the QIDO scale phases
    alone (they bring their own synthetic archive)."""
    if args.qido_scale:
        if (args.orthanc or args.orthanc_only) and args.qido_scale > qidoscale.PEER_LOAD_LIMIT:
            raise SystemExit(f"--orthanc takes --qido-scale up to {qidoscale.PEER_LOAD_LIMIT}")
        repeats = 20 if args.quick else 100
        return qidoscale.scale_phases(args.qido_scale, args.seed, repeats), corpus.Corpus(
            args.corpus_dir, [], token
        )
    count = args.instances or (100 if args.quick else 1000)
    _say(f"corpus: {count} instances in {args.corpus_dir} (run token {token})")
    started = time.monotonic()
    data = corpus.load_corpus(args.corpus_dir, count, args.seed, token)
    mean_kb = data.total_bytes / max(1, len(data.instances)) / 1e3
    _say(f"corpus ready in {time.monotonic() - started:.1f} s, mean {mean_kb:.0f} KB/instance")
    if args.stow_only:
        return STOW_PHASES, data
    return (RENDERED_PHASES if args.rendered_only else PHASES), data


def _report(figure: Figure) -> None:
    _say(f"  {figure.operation}: {figure.value:.2f} {figure.unit} {figure.note}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add = parser.add_argument
    add("--target", help="a loopback DICOMweb root to measure instead of starting our stack")
    add("--wado-uri", help="the WADO-URI endpoint of --target (its phase is skipped without)")
    add("--orthanc", action="store_true", help="also start and measure Orthanc (Debian)")
    add("--orthanc-only", action="store_true", help="measure Orthanc alone")
    add("--orthanc-port", type=int, default=8042)
    add_run_arguments(parser, "1000, 100 with --quick", Path(".data/bench-stack"))
    add(
        "--stow-only",
        action="store_true",
        help="only the STOW phases: throughput and CPU per instance of each server process",
    )
    add(
        "--rendered-only",
        action="store_true",
        help="only the rendered-JPEG phases (after storing the corpus in batches of 20)",
    )
    add(
        "--scale-out",
        action="store_true",
        help="instead of the default phases: STOW with 1 vs 2 replicas of stow + indexer",
    )
    add(
        "--auth-overhead",
        action="store_true",
        help="instead of the default phases: QIDO and frame p50 with authentication off vs on",
    )
    add(
        "--dimse",
        action="store_true",
        help="instead of the default phases: C-STORE (1 and 4 associations) and C-FIND latency",
    )
    add(
        "--audit-overhead",
        action="store_true",
        help="instead of the default phases: STOW throughput with the audit trail on vs off",
    )
    add(
        "--cli-upload",
        action="store_true",
        help="instead of the default phases: `dicomweb upload` vs the bench's batch STOW client",
    )
    add(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="instead of the default phases: a mixed load for MINUTES, reporting each "
        "process's memory over time; fails if one grew more than 10 %% after its warm-up",
    )
    add(
        "--qido-scale",
        type=int,
        metavar="N",
        help="instead of the default phases: load N synthetic instances, time the QIDO mix",
    )
    return parser.parse_args(argv)


def _scale_out_argv(args: argparse.Namespace) -> list[str]:
    """The options ``bench.scaleout`` shares with this command."""
    argv = ["--corpus-dir", str(args.corpus_dir), "--seed", str(args.seed)]
    argv += ["--instances", str(args.instances)] if args.instances else []
    argv += ["--json", str(args.json)] if args.json else []
    return argv + (["--quick"] if args.quick else [])


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception so the ``finally`` blocks stop what we started."""
    raise SystemExit(128 + signum)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
