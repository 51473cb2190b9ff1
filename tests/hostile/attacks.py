"""What the hostile-input cases share: sending through the gateway (also as raw bytes, for
requests no well-behaved client would send), judging the answer (a 4xx, or a documented success;
never a 5xx but 503), checking that nothing of a refused request was stored, and measuring the
services' memory."""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Mapping

import httpx
import psutil

from dicomstack.stack import Stack
from tests import instances
from tests.polling import eventually

TIMEOUT = 120.0


def service_memory(stack: Stack) -> int:
    """Resident bytes of every service replica (and any process it started), summed."""
    total = 0
    for replicas in stack.replicas.values():
        for replica in replicas:
            if replica.pid is None:
                continue
            try:
                root = psutil.Process(replica.pid)
                for process in (root, *root.children(recursive=True)):
                    total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
    return total


def eventually_healthy(stack: Stack, seconds: float = 30) -> bool:
    def healthy() -> bool:
        try:
            return httpx.get(f"{stack.gateway_url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    return eventually(healthy, seconds, every=0.25)


def refused(response: httpx.Response, *statuses: int) -> httpx.Response:
    """The answer is one of ``statuses`` (any 4xx when none is given)."""
    no_server_error(response.status_code, response.text)
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    return response


def no_server_error(status: int, text: str = "") -> None:
    assert status < 500 or status == 503, (status, text[:500])


def store(
    stack: Stack,
    body: bytes,
    content_type: str = instances.MULTIPART,
    headers: Mapping[str, str | bytes] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=body,
        headers={"Content-Type": content_type, **(headers or {})},
        timeout=TIMEOUT,
    )


def instances_of_study(stack: Stack, study: str) -> int:
    """How many instances of ``study`` QIDO finds."""
    response = httpx.get(
        f"{stack.dicomweb_url}/instances/count", params={"StudyInstanceUID": study}, timeout=30
    )
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


def nothing_stored(stack: Stack, *studies: str) -> None:
    for study in studies:
        assert instances_of_study(stack, study) == 0, f"study {study} was partly stored"


def raw_exchange(stack: Stack, request: bytes, timeout: float = 60) -> tuple[int, bytes]:
    """Send ``request`` byte for byte to the gateway; the answer's status and raw bytes
    (status 0 when the gateway closed without answering)."""
    url = urllib.parse.urlsplit(stack.gateway_url)
    with socket.create_connection((url.hostname, url.port or 80), timeout=timeout) as sock:
        sock.sendall(request)
        answer = _read_answer(sock)
    if not answer.startswith(b"HTTP/1."):
        return 0, answer
    return int(answer.split(b" ", 2)[1]), answer


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        answer += chunk
        if _complete(answer):
            break
    return answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return b"transfer-encoding: chunked" in head.lower() and body.endswith(b"0\r\n\r\n")


def get_raw(stack: Stack, target: str) -> int:
    """GET ``target`` (a path and query no client library would send) as raw bytes."""
    status, answer = raw_exchange(stack, request_head(stack, "GET", target, []))
    no_server_error(status, answer[:300].decode("latin-1"))
    return status


def request_head(stack: Stack, method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP/1.1 request line and headers for the gateway, closing the connection after."""
    url = urllib.parse.urlsplit(stack.gateway_url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()  # non-ASCII as UTF-8 bytes
