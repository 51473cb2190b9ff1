"""Clients that trickle their request (a STOW body a byte at a time, or the headers) hold a
connection each, and nothing else: other requests are answered promptly meanwhile, and the
trickled instances are never stored."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from dicomstack.stack import Stack
from tests import instances
from tests.hostile import attacks

SLOW_CLIENTS = 24
PROMPT_SECONDS = 10.0  # well below the 20 s the tricklers take to send their 100 bytes


@contextmanager
def _tricklers(stack: Stack, openings: list[bytes], rest: bytes) -> Iterator[None]:
    """Each socket sends its opening, then ``rest`` a byte every 0.2 s until told to stop."""
    url = urllib.parse.urlsplit(stack.gateway_url)
    stop = threading.Event()
    sockets = [socket.create_connection((url.hostname, url.port or 80)) for _ in openings]

    def trickle(sock: socket.socket, opening: bytes) -> None:
        try:
            sock.sendall(opening)
            for byte in rest:
                if stop.wait(0.2):
                    return
                sock.sendall(bytes([byte]))
        except OSError:
            return  # the gateway gave up on us: fine

    threads = [
        threading.Thread(target=trickle, args=(s, o), daemon=True)
        for s, o in zip(sockets, openings, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # every trickler is connected and has started
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for sock in sockets:
            sock.close()


def _prompt(stack: Stack) -> None:
    """A search and a store answer within ``PROMPT_SECONDS`` each."""
    started = time.monotonic()
    response = httpx.get(f"{stack.dicomweb_url}/studies?limit=1", timeout=30)
    assert response.status_code in (200, 204), response.text
    assert time.monotonic() - started < PROMPT_SECONDS
    ds = instances.fresh()
    started = time.monotonic()
    response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < PROMPT_SECONDS


def test_trickled_stow_bodies_block_no_one(stack: Stack) -> None:
    studies, openings = [], []
    for _ in range(SLOW_CLIENTS):
        ds = instances.fresh()
        body = instances.multipart_body([instances.to_bytes(ds)])
        head = attacks.request_head(
            stack,
            "POST",
            "/dicom-web/studies",
            [("Content-Type", instances.MULTIPART), ("Content-Length", str(len(body)))],
        )
        studies.append(ds.StudyInstanceUID)
        openings.append(head + body[:200])
    with _tricklers(stack, openings, b"x" * 100):  # 20 s of trickling
        _prompt(stack)
    time.sleep(1)
    attacks.nothing_stored(stack, *studies)


def test_trickled_headers_block_no_one(stack: Stack) -> None:
    url = urllib.parse.urlsplit(stack.gateway_url)
    opening = f"GET /dicom-web/studies HTTP/1.1\r\nHost: {url.netloc}\r\n".encode()
    with _tricklers(stack, [opening] * SLOW_CLIENTS, b"X-Slow: " + b"a" * 100):
        _prompt(stack)
