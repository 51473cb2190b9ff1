"""The first part of a multipart/related answer (PS3.18 §8.6.1), streamed into a file.

A retrieve of one instance answers one part; its bytes go to disk as they arrive, with only the
length of the closing delimiter held back between reads, so an instance of any size costs the
same memory. An answer that is not multipart (a server that sends ``application/dicom`` as is)
is written whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import aiohttp

from dicomweb.server import CommandError


def boundary_of(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, raw = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            return raw.strip().strip('"')
    return None


async def save_single_part(answer: aiohttp.ClientResponse, path: Path) -> int:
    """Write the answer's (first) part's body to ``path``; its length in bytes."""
    content_type = answer.headers.get("Content-Type", "")
    boundary = boundary_of(content_type) if content_type.lower().startswith("multipart/") else None
    with path.open("wb") as out:
        if boundary is None:
            size = 0
            async for chunk in answer.content.iter_chunked(1 << 20):
                out.write(chunk)
                size += len(chunk)
            return size
        return await _first_part(answer, boundary.encode(), out)


async def _first_part(answer: aiohttp.ClientResponse, boundary: bytes, out: BinaryIO) -> int:
    write = out.write
    buffer = b""
    start = b"--" + boundary
    body_started = False
    end = b"\r\n--" + boundary
    size = 0
    async for chunk in answer.content.iter_chunked(1 << 20):
        buffer += chunk
        if not body_started:
            at = buffer.find(start)
            head_end = buffer.find(b"\r\n\r\n", at) if at >= 0 else -1
            if head_end < 0:
                continue
            buffer = buffer[head_end + 4 :]
            body_started = True
        closing = buffer.find(end)
        if closing >= 0:
            write(buffer[:closing])
            return size + closing
        keep = len(end) - 1
        if len(buffer) > keep:
            write(buffer[:-keep])
            size += len(buffer) - keep
            buffer = buffer[-keep:]
    raise CommandError("the server's multipart answer ended before its closing boundary")
