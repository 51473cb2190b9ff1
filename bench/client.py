"""The load generator: a keep-alive HTTP/1.1 client, bounded worker pools and their statistics.

Every pool has a request count and a deadline, so a slow or broken server ends a phase early
instead of hanging the run; only loopback targets are accepted, so the bench never loads a
machine it does not own. The client is aiohttp's: on two cores httpx cost ~1.3 ms more per
request (p50 of a tiny QIDO query 2.47 vs 1.18 ms), enough to hide the servers' differences.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import math
import socket
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson

Job = TypeVar("Job")


class RequestFailed(Exception):
    """One request that did not do its job (status, transport error, timeout, short answer)."""


@dataclass(frozen=True)
class Done:
    """What one answered request moved: DICOM instances (or results) and body bytes, plus the
    items it carried that the server refused (a STOW batch can partly fail)."""

    units: int
    nbytes: int
    failed: int = 0
    problem: str | None = None
    answered_at: float | None = None
    """``time.perf_counter()`` when the last byte arrived, where the caller then did client-side
    work (parsing, checking) that is no part of the server's latency."""


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


@dataclass(frozen=True)
class Answer:
    """A whole response, read before the call returns (the timed part includes the body)."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes
    received_at: float
    """``time.perf_counter()`` once the whole body was read."""

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


@dataclass(frozen=True)
class Streamed:
    """A response whose body is read as it arrives (SSE, a 2 GB study)."""

    status_code: int
    headers: Mapping[str, str]
    body: aiohttp.StreamReader

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as the socket delivers it."""
        async for chunk in self.body.iter_any():
            yield chunk

    async def lines(self) -> AsyncIterator[str]:
        """The body line by line, without the line ends (for ``text/event-stream``)."""
        async for line in self.body:
            yield line.decode(errors="replace").rstrip("\r\n")


Body = bytes | AsyncIterable[bytes]
_TRANSPORT = (aiohttp.ClientError, TimeoutError)
IDLE_REUSE_SECONDS = 0.5
"""A connection idle longer is closed, not reused: Orthanc closes its side after 1 s idle and
a request written into such a connection fails (httpx probed the socket before reuse)."""


class HttpClient:
    """One aiohttp session over a pool of keep-alive connections; transport errors and
    timeouts raise ``RequestFailed``, so pools count them like a bad status. ``read_timeout``
    is how long each wait may last (for a connection, then between reads), as httpx counted
    it, so a 2 GB body that keeps flowing is not cut; ``None`` is the client's, ``math.inf`` none.
    Make it inside the running event loop, and close it (``async with``) in the same loop."""

    def __init__(self, concurrency: int, read_timeout: float) -> None:
        self._default = _waits(read_timeout)
        connector = aiohttp.TCPConnector(
            limit=concurrency, limit_per_host=concurrency, keepalive_timeout=IDLE_REUSE_SECONDS
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._default)

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.close()

    async def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Answer:
        return await _whole(
            self.stream("GET", url, params=params, headers=headers, read_timeout=read_timeout)
        )

    async def post(
        self,
        url: str,
        content: Body,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Answer:
        return await _whole(
            self.stream("POST", url, data=content, headers=headers, read_timeout=read_timeout)
        )

    async def delete(self, url: str, read_timeout: float | None = None) -> Answer:
        return await _whole(self.stream("DELETE", url, read_timeout=read_timeout))

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
        data: Body | None = None,
    ) -> AsyncIterator[Streamed]:
        """The response once its head has arrived; the body is read by the caller."""
        try:
            request = self._session.request(
                method,
                url,
                params=params,
                headers=headers,
                data=data,
                timeout=self._timeout(read_timeout),
            )
            async with request as response:
                yield Streamed(response.status, response.headers, response.content)
        except _TRANSPORT as exc:
            raise _failed(exc) from exc

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        return self._default if seconds is None else _waits(seconds)


async def _whole(streamed: contextlib.AbstractAsyncContextManager[Streamed]) -> Answer:
    """The answer with its whole body read, timed when its last byte arrived."""
    async with streamed as answer:
        content = await answer.body.read()
        return Answer(answer.status_code, answer.headers, content, time.perf_counter())


def _waits(seconds: float) -> aiohttp.ClientTimeout:
    limit = None if math.isinf(seconds) else seconds
    return aiohttp.ClientTimeout(total=None, connect=limit, sock_read=limit)


def _failed(exc: BaseException) -> RequestFailed:
    return RequestFailed(f"{type(exc).__name__}: {exc}")


def make_client(concurrency: int, read_timeout: float = 60.0) -> HttpClient:
    """One pooled keep-alive client of up to ``concurrency`` connections; aiohttp reads no
    proxy settings from the environment unless asked, so loopback stays direct."""
    return HttpClient(concurrency, read_timeout)


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
    """Run ``call`` over ``jobs`` with ``concurrency`` workers until done or out of time.

    What the bench built before (the corpus manifest, a 20,000-instance population) is frozen
    out of the garbage collector for the run: a full collection over it paused this client for
    tens of milliseconds, which the latencies of either server would otherwise carry."""
    result = PoolResult()
    pending = iter(jobs)
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    deadline = started + deadline_seconds

    async def worker() -> None:
        for job in pending:
            if time.perf_counter() > deadline:
                return
            await _timed(call, job, result)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        gc.unfreeze()
    result.wall_seconds = time.perf_counter() - started
    return result


async def _timed(call: Callable[[Job], Awaitable[Done]], job: Job, result: PoolResult) -> None:
    began = time.perf_counter()
    try:
        done = await call(job)
    except RequestFailed as exc:
        result.errors += 1
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        result.first_error = result.first_error or message[:300]
        return
    result.latencies.append((done.answered_at or time.perf_counter()) - began)
    result.units += done.units
    result.nbytes += done.nbytes
    result.errors += done.failed
    result.first_error = result.first_error or done.problem
