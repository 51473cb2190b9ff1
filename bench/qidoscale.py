"""QIDO-RS at scale (issue 4): fill the server with a synthetic archive, then time the query mix
a viewer's study list and an integration send, one at a time and eight at once.

Ours is filled by COPY into the index (``qidoload``): the rows the indexer writes for the same
files. A peer is filled over STOW with those files, since it has no other door. The two load
figures are therefore different rows of the table, never a ratio; the queries run only after
the load is complete and the statistics are fresh, so how the rows came in does not touch
them. Queries that can match thousands of studies ask for a page of 100, as a study list does.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Callable
from functools import cache

from bench.client import Done, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.population import LARGE_SERIES, Series, Study, populate
from bench.qido import _search
from bench.qidoload import copy_population, instance_file, load_templates
from bench.qidotags import tag_phases
from bench.report import Figure, rate
from bench.stow import post_stow

PEER_LOAD_LIMIT = 50_000
"""Above this, loading a peer over STOW would take hours; such runs measure ours alone."""
_STOW_BATCH, _STOW_CONCURRENCY = 20, 4  # Orthanc's best shape (see PEERS.md)

QueryMaker = Callable[[Study, random.Random], str]


_PAGE = "limit=100"  # a study list's page, for queries that can match thousands of studies


def _page(study: Study, rng: random.Random) -> str:
    return f"{_PAGE}&offset={rng.randrange(max(1, study.number))}"


def _date_range(study: Study, rng: random.Random) -> str:
    start = dt.datetime.strptime(study.date, "%Y%m%d").date()
    return f"StudyDate={start:%Y%m%d}-{start + dt.timedelta(days=30):%Y%m%d}&{_PAGE}"


def _a_series(study: Study, rng: random.Random) -> Series:
    return rng.choice([s for s in study.series if s.size < LARGE_SERIES] or study.series)


def _name_wildcard(study: Study) -> str:
    """``PatientName`` matching the first four letters of the family name."""
    return f"PatientName={study.patient.family_name[:4]}*"


def _fuzzy_name(study: Study) -> str:
    return f"PatientName={study.patient.family_name.lower()}&fuzzymatching=true"


QUERIES: dict[str, QueryMaker] = {
    "studies by PatientID": lambda s, r: f"/studies?PatientID={s.patient.patient_id}",
    "studies by PatientName wildcard": lambda s, r: f"/studies?{_name_wildcard(s)}&{_PAGE}",
    "studies by StudyDate range (30 days)": lambda s, r: f"/studies?{_date_range(s, r)}",
    "studies by ModalitiesInStudy": lambda s, r: (
        f"/studies?ModalitiesInStudy={r.choice(s.modalities)}&{_PAGE}"
    ),
    "studies, limit=100&offset=K": lambda s, r: f"/studies?{_page(s, r)}",
    "studies by PatientID, includefield=all": lambda s, r: (
        f"/studies?PatientID={s.patient.patient_id}&includefield=all"
    ),
    "studies by fuzzy PatientName": lambda s, r: f"/studies?{_fuzzy_name(s)}&{_PAGE}",
    "study list, newest first (OHIF: limit=101)": lambda s, r: "/studies?limit=101",
    "studies/count by PatientName wildcard": lambda s, r: f"/studies/count?{_name_wildcard(s)}",
    "series of a study": lambda s, r: f"/studies/{s.uid}/series",
    "instances of a series": lambda s, r: (
        f"/studies/{s.uid}/series/{_a_series(s, r).uid}/instances"
    ),
    "series by Modality": lambda s, r: f"/series?Modality={_a_series(s, r).modality}&{_PAGE}",
}
"""The issue's mix; the 1,000-instance series is added by ``scale_phases``."""


@cache
def _population(instances: int, seed: int) -> list[Study]:
    return populate(instances, seed)


def scale_phases(instances: int, seed: int, repeats: int = 100) -> list[Phase]:
    """Load, then each query's p50 / p95, then the whole mix at concurrency 8, then an
    undeclared attribute, its reindex as an extended query tag and its indexed search."""
    return [
        _load_phase(instances, seed),
        _latency_phase(instances, seed, repeats),
        _mix_phase(instances, seed, repeats // 2, concurrency=8),
        *tag_phases(lambda: _population(instances, seed), instances, repeats),
    ]


def _paths(instances: int, seed: int, repeats: int, picks: int = 1) -> dict[str, list[str]]:
    """``repeats`` paths per query, over studies spread across the archive."""
    studies = _population(instances, seed)
    rng = random.Random(seed + picks)
    picked = rng.sample(studies, min(repeats, len(studies)))
    paths = {title: [make(s, rng) for s in picked] for title, make in QUERIES.items()}
    large = [
        f"/studies/{s.uid}/series/{se.uid}/instances"
        for s in studies
        for se in s.series
        if se.size == LARGE_SERIES
    ]
    if large:  # a small archive has no such series
        paths[f"instances of the {LARGE_SERIES:,}-instance series"] = large[:1] * (repeats // 4)
    return paths


def _load_phase(instances: int, seed: int) -> Phase:
    async def run(ctx: PhaseContext) -> list[Figure]:
        studies = _population(instances, seed)
        if ctx.target.postgres_url is not None:
            return await _copy_load(ctx.target.postgres_url, studies, instances)
        if instances > PEER_LOAD_LIMIT:
            raise ValueError(f"{instances} instances is too many to STOW into {ctx.target.label}")
        return await _stow_load(ctx, studies)

    return run


async def _copy_load(postgres_url: str, studies: list[Study], instances: int) -> list[Figure]:
    """The COPY load's rate and this loader's own CPU per instance (it builds the rows). The
    server's share is not sampled: the COPY backends have exited, with their CPU times, by
    the time the load ends."""
    own = time.process_time()
    seconds = await copy_population(postgres_url, studies)
    name = f"QIDO@{instances:,}: load by COPY + VACUUM ANALYZE"
    loader = (time.process_time() - own) / instances * 1e3
    return [
        Figure(name, instances / seconds, "inst/s", True, f"{seconds:.0f} s"),
        Figure(f"{name}: CPU of the loader (bench)", loader, "ms/inst", False),
    ]


async def _stow_load(ctx: PhaseContext, studies: list[Study]) -> list[Figure]:
    """The same instances as files over STOW, in batches (the peer's fastest shape)."""
    templates = load_templates()
    items = [(st, se, i) for st in studies for se in st.series for i in range(se.size)]
    batches = [items[k : k + _STOW_BATCH] for k in range(0, len(items), _STOW_BATCH)]

    async def store(batch: list[tuple[Study, Series, int]]) -> Done:
        files = [instance_file(st, se, i, templates[se.modality]) for st, se, i in batch]
        _, nbytes, referenced = await post_stow(ctx, files)
        return Done(units=len(referenced), nbytes=nbytes, failed=len(batch) - len(referenced))

    result = await run_pool(batches, _STOW_CONCURRENCY, 4 * 3600.0, store)
    name = f"QIDO@{len(items):,}: load by STOW ({_STOW_BATCH}/request, concurrency 4)"
    note = error_note(result) or f"{result.wall_seconds:.0f} s"
    return [Figure(name, rate(result.units_per_second), "inst/s", True, note)]


def _latency_phase(instances: int, seed: int, repeats: int) -> Phase:
    async def run(ctx: PhaseContext) -> list[Figure]:
        paths = _paths(instances, seed, repeats)
        await run_pool(  # warm-up: caches and connections, as a server in use has them
            [p for ps in paths.values() for p in ps[:3]], 1, 120.0, lambda p: _search(ctx, p)
        )
        figures: list[Figure] = []
        for title, jobs in paths.items():
            result = await run_pool(jobs, 1, ctx.plan.deadline_seconds, lambda p: _search(ctx, p))
            answered = len(result.latencies)
            note = error_note(result) or (
                f"{answered} queries, {result.units / max(1, answered):.0f} matches/answer"
            )
            name = f"QIDO@{instances:,}: {title}"
            figures += [
                Figure(f"{name}: p50", result.percentile(0.50) * 1e3, "ms", False, note),
                Figure(f"{name}: p95", result.percentile(0.95) * 1e3, "ms", False),
            ]
        return figures

    return run


def _mix_phase(instances: int, seed: int, repeats: int, concurrency: int) -> Phase:
    async def run(ctx: PhaseContext) -> list[Figure]:
        paths = _paths(instances, seed, repeats, picks=2)
        rounds = itertools.zip_longest(*paths.values())
        mixed = [p for group in rounds for p in group if p is not None]
        result = await run_pool(
            mixed, concurrency, ctx.plan.deadline_seconds, lambda p: _search(ctx, p)
        )
        name = f"QIDO@{instances:,}: the mix, concurrency {concurrency}"
        note = error_note(result) or f"{len(result.latencies)} queries"
        return [
            Figure(name, rate(len(result.latencies) / result.wall_seconds), "queries/s", True,
                   note),
            Figure(f"{name}: p50", result.percentile(0.50) * 1e3, "ms", False),
            Figure(f"{name}: p95", result.percentile(0.95) * 1e3, "ms", False),
        ]  # fmt: skip

    return run
