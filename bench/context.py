"""What every phase receives: the target, the client, the corpus, the run's bounds, and what
earlier phases stored (so search and retrieve only ask for what the server acknowledged)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.client import HttpClient, PoolResult, RequestFailed, ensure_loopback, make_client
from bench.corpus import Corpus, Instance
from bench.cpu import CpuByRole, CpuProbe, spent
from bench.report import Figure


@dataclass(frozen=True)
class Target:
    """A DICOMweb server under test; ``cpu`` is None when its processes are not ours to read."""

    label: str
    dicomweb_url: str
    wado_uri_url: str | None
    cpu: CpuProbe | None
    nats_url: str | None = None  # where the change feed is pushed, when we know it
    postgres_url: str | None = None  # the index, when it is ours to fill (QIDO scale phases)


@dataclass(frozen=True)
class Plan:
    """How much each phase may do: request counts and a deadline per pool."""

    quick: bool
    deadline_seconds: float
    query_repeats: int
    retrieve_count: int

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        if quick:
            return cls(quick=True, deadline_seconds=5.0, query_repeats=8, retrieve_count=40)
        return cls(quick=False, deadline_seconds=120.0, query_repeats=40, retrieve_count=400)


@dataclass
class PhaseContext:
    target: Target
    client: HttpClient
    corpus: Corpus
    plan: Plan
    stored: dict[str, Instance] = field(default_factory=dict)
    """Acknowledged instances by SOP Instance UID, in the order they were stored."""
    retrieved: int = 0
    """How far into ``stored`` the retrieve phases have gone."""
    _next: int = 0

    def take(self, count: int) -> list[Instance]:
        """The next ``count`` corpus instances no phase has sent yet."""
        chunk = self.corpus.instances[self._next : self._next + count]
        self._next += len(chunk)
        return chunk

    @property
    def unsent(self) -> int:
        return len(self.corpus.instances) - self._next

    async def measure_cpu(
        self, run: Callable[[], Awaitable[PoolResult]]
    ) -> tuple[PoolResult, float | None]:
        """Run a pool and return it with the server CPU seconds it cost, when we can read them."""
        result, by_role = await self.measure_cpu_by_role(run)
        return result, None if by_role is None else sum(by_role.values())

    async def measure_cpu_by_role(
        self, run: Callable[[], Awaitable[PoolResult]]
    ) -> tuple[PoolResult, CpuByRole | None]:
        """Run a pool and return it with the server CPU seconds each role spent on it."""
        before = self.target.cpu.sample_by_role() if self.target.cpu else None
        result = await run()
        if self.target.cpu is None or before is None:
            return result, None
        await asyncio.sleep(0.2)  # let the server finish work queued behind the last answer
        return result, spent(before, self.target.cpu.sample_by_role())


Phase = Callable[[PhaseContext], Awaitable[list[Figure]]]
"""A phase measures one area and returns its figures; register it in ``bench.phases``."""


def add_run_arguments(
    parser: argparse.ArgumentParser, default_instances: str, stack_data: Path
) -> None:
    """The options every run of phases on a corpus takes: its size and layout, where the
    corpus and the started stack keep their files, a quick pass, and a JSON copy."""
    add = parser.add_argument
    add("--instances", type=int, help=f"corpus size (default {default_instances})")
    add("--quick", action="store_true", help="a small, short run for smoke testing")
    add("--json", type=Path, help="also write the figures to this JSON file")
    add("--corpus-dir", type=Path, default=Path(".data/bench-corpus"))
    add("--stack-data", type=Path, default=stack_data)
    add("--seed", type=int, default=0, help="corpus layout seed (part of the cache key)")


async def run_phases(
    target: Target,
    data: Corpus,
    plan: Plan,
    phases: list[Phase],
    report: Callable[[Figure], None],
) -> list[Figure]:
    """Run ``phases`` in order against a loopback ``target`` with one shared client, handing
    each figure to ``report`` as it comes; fails fast with one clear line when nothing answers,
    rather than with a table of errors."""
    ensure_loopback(target.dicomweb_url)
    if target.wado_uri_url:
        ensure_loopback(target.wado_uri_url)
    figures: list[Figure] = []
    async with make_client(concurrency=16) as client:
        try:
            await client.get(f"{target.dicomweb_url}/studies", params={"limit": "1"})
        except RequestFailed as exc:
            raise ValueError(f"nothing answers at {target.dicomweb_url}: {exc}") from exc
        ctx = PhaseContext(target, client, data, plan)
        for phase in phases:
            for figure in await phase(ctx):
                report(figure)
                figures.append(figure)
    return figures


def error_note(result: PoolResult) -> str:
    """A short note for the table when some requests failed, so no figure hides errors."""
    if not result.errors:
        return ""
    return f"{result.errors} failed requests, first: {result.first_error}"
