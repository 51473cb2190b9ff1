"""The load generator: a keep-alive HTTP/1.1 client, bounded worker pools and their statistics.

Every pool has a request count and a deadline, so a slow or broken server ends a phase early
instead of hanging the run; only loopback targets are accepted, so the bench never loads a
machine it does not own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

Job = TypeVar("Job")


class RequestFailed(Exception):
    """One request that did not do its job (status, transport error, short answer)."""


@dataclass(frozen=True)
class Done:
    """What one answered request moved: DICOM instances (or results) and body bytes, plus the
    items it carried that the server refused (a STOW batch can partly fail)."""

    units: int
    nbytes: int
    failed: int = 0
    problem: str | None = None


@dataclass
class PoolResult:
    """Latencies and totals of one pool run; the phases turn these into figures."""

    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    units: int = 0
    nbytes: int = 0
    errors: int = 0
    first_error: str | None = None

    @property
    def units_per_second(self) -> float:
        return self.units / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.nbytes / 1e6 / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the request latencies, in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank]


def ensure_loopback(url: str) -> None:
    """Refuse any target that does not resolve only to loopback addresses."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValueError(f"{url!r} is not a loopback address; the bench only loads this machine")


def make_client(concurrency: int, timeout: float = 60.0) -> httpx.AsyncClient:
    """One pooled HTTP/1.1 keep-alive client; ``trust_env=False`` keeps proxies off loopback."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)


def multipart_related(parts: Sequence[bytes]) -> tuple[bytes, str]:
    """A PS3.18 §8.6.1 multipart/related body of application/dicom parts, and its header."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), part]
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(chunks), content_type


async def run_pool(
    jobs: Sequence[Job],
    concurrency: int,
    deadline_seconds: float,
    call: Callable[[Job], Awaitable[Done]],
) -> PoolResult:
    """Run ``call`` over ``jobs`` with ``concurrency`` workers until done or out of time."""
    result = PoolResult()
    pending = iter(jobs)
    started = time.perf_counter()
    deadline = started + deadline_seconds

    async def worker() -> None:
        for job in pending:
            if time.perf_counter() > deadline:
                return
            await _timed(call, job, result)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_seconds = time.perf_counter() - started
    return result


async def _timed(call: Callable[[Job], Awaitable[Done]], job: Job, result: PoolResult) -> None:
    began = time.perf_counter()
    try:
        done = await call(job)
    except (RequestFailed, httpx.HTTPError) as exc:
        result.errors += 1
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        result.first_error = result.first_error or message[:300]
        return
    result.latencies.append(time.perf_counter() - began)
    result.units += done.units
    result.nbytes += done.nbytes
    result.errors += done.failed
    result.first_error = result.first_error or done.problem
