"""QIDO-RS phases (PS3.18 §10.6): latency percentiles of the queries a viewer's study list and
an integration make, with values drawn from what the STOW phases stored so every query must
find something (an empty answer counts as a failure: it breaks read-your-writes)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import orjson

from bench.client import Done, RequestFailed, run_pool
from bench.context import Phase, PhaseContext, error_note
from bench.corpus import Instance
from bench.report import Figure

QueryMaker = Callable[[Instance], str]
"""Builds one query path (relative to the DICOMweb root) from a stored instance."""


def _by_patient_id(i: Instance) -> str:
    return f"/studies?PatientID={i.patient_id}"


def _by_name_wildcard(i: Instance) -> str:
    return f"/studies?PatientName={i.patient_name[:3]}*"


def _by_date_range(i: Instance) -> str:
    start = dt.datetime.strptime(i.study_date, "%Y%m%d").date()
    end = start + dt.timedelta(days=30)
    return f"/studies?StudyDate={start:%Y%m%d}-{end:%Y%m%d}"


def _by_modality(i: Instance) -> str:
    return f"/studies?ModalitiesInStudy={i.modality}"


def _series_of_study(i: Instance) -> str:
    return f"/studies/{i.study_instance_uid}/series"


def _instances_of_series(i: Instance) -> str:
    return f"/studies/{i.study_instance_uid}/series/{i.series_instance_uid}/instances"


QUERIES: dict[str, QueryMaker] = {
    "studies by PatientID": _by_patient_id,
    "studies by PatientName wildcard": _by_name_wildcard,
    "studies by StudyDate range": _by_date_range,
    "studies by ModalitiesInStudy": _by_modality,
    "series of a study": _series_of_study,
    "instances of a series": _instances_of_series,
}
"""Add a query here and it is measured on every target."""


def qido_phase(concurrency: int = 1) -> Phase:
    """One p50 / p95 pair per query in ``QUERIES``, each repeated over varied stored values."""

    async def run(ctx: PhaseContext) -> list[Figure]:
        figures: list[Figure] = []
        samples = _spread(list(ctx.stored.values()), ctx.plan.query_repeats)
        for title, make in QUERIES.items():
            paths = [make(i) for i in samples]
            result = await run_pool(
                paths, concurrency, ctx.plan.deadline_seconds, lambda p: _search(ctx, p)
            )
            name = f"QIDO {title}"
            note = error_note(result) or ("nothing stored to query" if not samples else "")
            figures += [
                Figure(f"{name}: p50", result.percentile(0.50) * 1e3, "ms", False, note),
                Figure(f"{name}: p95", result.percentile(0.95) * 1e3, "ms", False),
            ]
        return figures

    return run


def _spread(stored: list[Instance], count: int) -> list[Instance]:
    """``count`` instances spread evenly over the stored ones, so each repeat asks anew."""
    if not stored:
        return []
    step = max(1, len(stored) // count)
    return list(itertools.islice(itertools.cycle(stored[::step]), count))


async def _search(ctx: PhaseContext, path: str) -> Done:
    response = await ctx.client.get(
        f"{ctx.target.dicomweb_url}{path}", headers={"Accept": "application/dicom+json"}
    )
    if response.status_code != 200:
        raise RequestFailed(f"HTTP {response.status_code} for {path}: {response.text[:200]}")
    matches = orjson.loads(response.content)  # checked, but not timed: it is the client's work
    if isinstance(matches, dict) and isinstance(matches.get("count"), int):  # a …/count answer
        return Done(1, len(response.content), answered_at=response.received_at)
    if not isinstance(matches, list) or not matches:
        raise RequestFailed(f"no match for {path}")
    return Done(len(matches), len(response.content), answered_at=response.received_at)
