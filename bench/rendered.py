"""The rendered-JPEG phases: each corpus instance's first request (nothing cached), the same
requests repeated (a server's cache of rendered pictures answers), and WADO-URI's first
requests of other instances. Orthanc keeps no such cache: its repeat is a re-render.

Servers refuse different instances (Orthanc decodes no JPEG 2000, for one), and a refusal is
quick while a decode is not, so the all-requests figures compare different work. Every phase
therefore also reports its answers by status, and once every target ran,
``shared_figures`` adds the same figures over only the requests that every target answered
with a picture: the like-for-like comparison. Each phase also reports the server CPU per
request of each process (wado, traefik, postgres, …) where the processes are ours to read.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field

from bench.client import Done, PoolResult, RequestFailed, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.corpus import Corpus, Instance
from bench.report import Figure, Results, rate
from bench.stow import cpu_figures

FIRST, REPEATED, URI_FIRST = "first request", "repeated (cached)", "WADO-URI first request"
SHARED = "only instances every server renders"


@dataclass
class Answers:
    """One phase's requests on one target: the status of each, and each picture's latency."""

    status: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> str:
        tally = Counter(self.status.values())
        return ", ".join(f"{code}: {n}" for code, n in sorted(tally.items()))


AnswerBook = dict[str, dict[str, Answers]]
"""Per target label, per phase label: what the phase saw."""

_ANSWERS: AnswerBook = {}
"""This run's answers, read by ``shared_figures`` once every target ran."""


def rendered_phase() -> Phase:
    """Rendered JPEG of corpus instances: first requests, repeats, WADO-URI first requests."""

    async def run(ctx: PhaseContext) -> list[Figure]:
        half = ctx.plan.retrieve_count // 2
        chosen = same_instances_everywhere(ctx.corpus, ctx.stored, 2 * half)
        stored, others = chosen[:half], chosen[half:]
        if not stored:
            return []
        base = ctx.target.dicomweb_url
        rs = [(i.sop_instance_uid, f"{base}/{_path(i)}/rendered") for i in stored]
        figures: list[Figure] = []
        for label in (FIRST, REPEATED):
            figures += await _measured(ctx, label, f"WADO-RS rendered JPEG, {label}", rs)
        if ctx.target.wado_uri_url is not None and others:
            uri = [
                (
                    i.sop_instance_uid,
                    f"{ctx.target.wado_uri_url}?requestType=WADO&studyUID={i.study_instance_uid}"
                    f"&seriesUID={i.series_instance_uid}&objectUID={i.sop_instance_uid}"
                    "&contentType=image/jpeg",
                )
                for i in others
            ]
            figures += await _measured(ctx, URI_FIRST, "WADO-URI rendered JPEG, first request", uri)
        return figures

    return run


def same_instances_everywhere(corpus: Corpus, stored: Container[str], count: int) -> list[Instance]:
    """``count`` stored instances picked evenly along the corpus, so every target is asked for
    the same ones, and they mix its templates as the corpus does (a series holds copies of
    one template: the first ``count`` would be one or two kinds of picture)."""
    present = [i for i in corpus.instances if i.sop_instance_uid in stored]
    step = max(1, len(present) // max(count, 1))
    return present[::step][:count]


def _path(i: Instance) -> str:
    return (
        f"studies/{i.study_instance_uid}/series/{i.series_instance_uid}"
        f"/instances/{i.sop_instance_uid}"
    )


async def _measured(
    ctx: PhaseContext, label: str, name: str, jobs: list[tuple[str, str]]
) -> list[Figure]:
    """``jobs``: (SOP Instance UID, URL) pairs, one request each, one at a time."""
    answers = _ANSWERS.setdefault(ctx.target.label, {}).setdefault(label, Answers())

    async def get(job: tuple[str, str]) -> Done:
        key, url = job
        began = time.perf_counter()
        response = await ctx.client.get(url, headers={"Accept": "image/jpeg"}, read_timeout=300)
        answers.status[key] = response.status_code
        if response.status_code != 200 or not response.content:
            raise RequestFailed(f"HTTP {response.status_code}, {len(response.content)} bytes")
        answers.seconds[key] = time.perf_counter() - began
        return Done(units=1, nbytes=len(response.content))

    result, cpu = await ctx.measure_cpu_by_role(
        lambda: run_pool(jobs, 1, ctx.plan.deadline_seconds, get)
    )
    figures = [
        *_latency_figures(f"{name} (all requests)", result),
        Figure(f"{name}: refused (not 200)", result.errors, "req", False, answers.counts()),
    ]
    requests = result.units + result.errors
    if cpu is not None and requests:
        figures += cpu_figures(name, cpu, requests, "ms/req")
    return figures


def _latency_figures(name: str, result: PoolResult, note: str | None = None) -> list[Figure]:
    """Images per second with p50 and p95: the rendering targets read both."""
    note = error_note(result) if note is None else note
    return [
        Figure(name, rate(result.units_per_second), "img/s", True, note),
        Figure(f"{name}: p50", result.percentile(0.5) * 1e3, "ms", False),
        Figure(f"{name}: p95", result.percentile(0.95) * 1e3, "ms", False),
    ]


def shared_figures(results: Results, answers: AnswerBook | None = None) -> None:
    """Add to each target's figures the rendered ones over the requests every target
    answered with a picture (requests run one at a time, so img/s is 1 / mean latency)."""
    answers = _ANSWERS if answers is None else answers
    if len(answers) < 2:
        return
    for label in (FIRST, REPEATED, URI_FIRST):
        seen = [by_phase[label] for by_phase in answers.values() if label in by_phase]
        if len(seen) < len(answers):
            continue
        common = set.intersection(*(set(a.seconds) for a in seen))
        kind = "WADO-URI rendered JPEG, first request" if label == URI_FIRST else label
        name = f"{'' if label == URI_FIRST else 'WADO-RS rendered JPEG, '}{kind}, {SHARED}"
        for target, by_phase in answers.items():
            latencies = sorted(by_phase[label].seconds[k] for k in common)
            if not latencies:
                continue
            result = PoolResult(latencies=latencies, wall_seconds=sum(latencies))
            result.units = len(latencies)
            note = f"{len(latencies)} requests"
            results.setdefault(target, []).extend(_latency_figures(name, result, note))
