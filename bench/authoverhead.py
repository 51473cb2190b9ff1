"""``python -m bench --auth-overhead``: what checking bearer tokens adds to a small QIDO search
and to a frame retrieve (issue 12's target: at most 0.1 ms p50).

Two stacks run at once on this machine, one without authentication and one with its local OIDC
provider, each holding the same small study. Requests alternate between them one at a time
(same client, same moment, same load), so the difference of the two p50s is the token check
plus noise; the middleware alone (a verified token found in its cache) is timed in-process too.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from starlette.types import Message, Receive, Scope, Send

from bench.client import ensure_loopback
from dicomcommon.principal import Permission, Principal
from dicomcommon.settings import AuthSettings
from dicomcommon.web.auth import Authentication
from dicomcommon.web.routes import routes_for
from dicomstack import oidc
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack

BOUNDARY = "authoverhead"


@contextmanager
def _stack(data_dir: Path, auth: bool) -> Iterator[Stack]:
    data_dir = data_dir.resolve()
    stack = Stack(StackSettings.ephemeral(data_dir, auth=auth))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _instance() -> pydicom.Dataset:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID = "AUTH-OVERHEAD"
    return ds


def _multipart(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return head + buffer.getvalue() + f"\r\n--{BOUNDARY}--\r\n".encode()


def _requests(root: str, ds: pydicom.Dataset) -> dict[str, tuple[str, dict[str, str]]]:
    frame = (
        f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1"
    )
    return {
        "QIDO small search": (f"{root}/studies?PatientID=AUTH-OVERHEAD&limit=10", {}),
        "frame retrieve": (frame, {"Accept": 'multipart/related; type="application/octet-stream"'}),
    }


async def _store(session: aiohttp.ClientSession, root: str, body: bytes, token: str) -> None:
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(f"{root}/studies", data=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"store at {root} answered {response.status}")


async def _timed(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return time.perf_counter() - started


async def _measure(off: Stack, on: Stack, repeats: int) -> list[tuple[str, float, float]]:
    """(operation, p50 off, p50 on) in milliseconds, requests alternating between the stacks."""
    assert on.oidc is not None
    token = oidc.fetch_token(on.oidc.issuer, "admin")
    ds = _instance()
    body = _multipart(ds)
    figures = []
    async with aiohttp.ClientSession() as session:
        await _store(session, off.dicomweb_url, body, "")
        await _store(session, on.dicomweb_url, body, token)
        plain, bearer = _requests(off.dicomweb_url, ds), _requests(on.dicomweb_url, ds)
        for operation, (url_off, headers) in plain.items():
            url_on = bearer[operation][0]
            with_token = {**headers, "Authorization": f"Bearer {token}"}
            times_off, times_on = [], []
            for _ in range(repeats):
                times_off.append(await _timed(session, url_off, headers))
                times_on.append(await _timed(session, url_on, with_token))
            figures.append(
                (operation, statistics.median(times_off) * 1e3, statistics.median(times_on) * 1e3)
            )
    return figures


async def _middleware_microseconds(enabled: bool, repeats: int = 20000) -> float:
    """p50 of one QIDO request through the authentication middleware alone (in-process, to a
    no-op app): with a token already verified (a client's next call), or authentication off."""
    settings = AuthSettings(enabled=enabled, issuer="https://issuer.example", audiences=["x"])
    middleware = Authentication(_noop, routes_for("qido"), settings)
    if middleware.verifier is not None:
        principal = Principal("s", permissions=frozenset({Permission.READ}))
        middleware.verifier._remember("token", time.time() + 600, principal)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/dicom-web/studies",
        "headers": [(b"accept", b"application/dicom+json"), (b"authorization", b"Bearer token")],
    }
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        await middleware(dict(scope), _noop_receive, _noop_send)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


async def _noop(scope: Scope, receive: Receive, send: Send) -> None:
    return None


async def _noop_receive() -> Message:
    return {"type": "http.request"}


async def _noop_send(message: Message) -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    repeats = 100 if args.quick else 1000
    with ExitStack() as stacks:
        print("starting two stacks: without and with authentication", flush=True)
        off = stacks.enter_context(_stack(args.stack_data / "auth-off", auth=False))
        on = stacks.enter_context(_stack(args.stack_data / "auth-on", auth=True))
        ensure_loopback(off.dicomweb_url)
        ensure_loopback(on.dicomweb_url)
        figures = asyncio.run(_measure(off, on, repeats))
    print(f"{'operation':<20} {'p50 off ms':>11} {'p50 on ms':>10} {'added ms':>9}")
    for operation, p50_off, p50_on in figures:
        print(f"{operation:<20} {p50_off:>11.3f} {p50_on:>10.3f} {p50_on - p50_off:>9.3f}")
    off_us = asyncio.run(_middleware_microseconds(enabled=False))
    on_us = asyncio.run(_middleware_microseconds(enabled=True))
    print(
        f"authentication middleware in-process p50: off {off_us:.2f} µs, on with a verified "
        f"token {on_us:.2f} µs (added {on_us - off_us:.2f} µs)"
    )
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    print(f"{repeats} requests each; load average {load:.1f} on {cores} cores")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench --auth-overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 requests each, not 1000")
    parser.add_argument("--stack-data", type=Path, default=Path(".data/bench-auth"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
