"""Streaming ``multipart/related`` (RFC 2387 / RFC 2046) reader and writer.

The reader never holds a whole request: each part is spooled to a temporary file (in memory
while small), and the caller handles one part at a time. The writer frames parts for WADO.

Every buffer is bounded: body bytes leave the buffer as soon as they cannot start a delimiter,
and a part's header block (with the padding after its boundary line) may not pass
``MAX_HEADER_BYTES``; each byte is scanned once, however the body is cut into chunks. The
reader is kept hand-written rather than a general push parser because it hands part bodies to
the spool as slices found by ``bytearray.find`` (C speed), with no Python call per byte or
per callback, which is what a 2 GB STOW needs.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from pydicom.dataset import Dataset

from dicomcommon.errors import DicomwebError, PayloadTooLarge, UnsupportedMediaType

SPOOL_IN_MEMORY = 4 << 20  # parts up to 4 MiB stay in memory; larger ones go to disk
MAX_HEADER_BYTES = 64 << 10  # a part's headers, and the padding after its boundary line


@dataclass
class PartLimits:
    """Limits that protect the server from one request (settings with safe defaults)."""

    max_parts: int = 10_000
    max_part_bytes: int = 4 << 30
    max_request_bytes: int = 64 << 30


@dataclass
class Part:
    """One body part: its headers and its content, spooled (call ``close`` when done)."""

    headers: dict[str, str]
    body: BinaryIO = field(default_factory=io.BytesIO)
    size: int = 0
    index: int = 0
    _digest: Any = field(default=None, repr=False, compare=False)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append content; past ``SPOOL_IN_MEMORY`` the part moves to a temporary file.
        (A plain BytesIO / file, not SpooledTemporaryFile: its Python-level ``read`` wrapper
        is slow under pydicom's many small reads.) A part written from empty is hashed as it
        is written, so ingest never reads it again only to hash it."""
        if self.size == 0 and self._digest is None:
            self._digest = hashlib.sha256()
        if self.size + len(data) > SPOOL_IN_MEMORY and isinstance(self.body, io.BytesIO):
            spilled = cast(BinaryIO, tempfile.TemporaryFile())  # noqa: SIM115
            spilled.write(self.body.getbuffer())
            self.body = spilled
        self.body.write(data)
        if self._digest is not None:
            self._digest.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str | None:
        """The SHA-256 of the content when all of it came through ``write`` (else None: a
        part made around an existing file is hashed by whoever reads it)."""
        return None if self._digest is None else str(self._digest.hexdigest())

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")

    def close(self) -> None:
        self.body.close()


@dataclass(frozen=True)
class MediaType:
    """A parsed media type: ``type/subtype`` lowercased, parameters with quotes removed."""

    essence: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> MediaType:
        head, *rest = split_unquoted(value, ";")
        params: dict[str, str] = {}
        for item in rest:
            name, sep, val = item.partition("=")
            if sep:
                params[name.strip().lower()] = _unquote(val.strip())
        return cls(head.strip().lower(), params)


def split_unquoted(value: str, sep: str) -> list[str]:
    """Split a header value at ``sep`` outside quoted strings (Accept lists, parameters).
    Quote marks stay in the pieces; every other one opens a quoted stretch and the next closes
    it, so the text between odd and even marks is never split."""
    if '"' not in value:  # the usual header: nothing quoted, so a plain split says the same
        return value.split(sep)
    parts = [""]
    for index, stretch in enumerate(value.split('"')):
        if index:
            parts[-1] += '"'
        if index % 2:  # inside quotes
            parts[-1] += stretch
            continue
        first, *rest = stretch.split(sep)
        parts[-1] += first
        parts.extend(rest)
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def boundary_of(media_type: MediaType) -> bytes:
    boundary = media_type.params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise UnsupportedMediaType("multipart/related request without a valid boundary parameter")
    return boundary.encode("latin-1")


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        if not line.strip():
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise DicomwebError(f"malformed multipart part header: {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


class _Reader:
    """State machine over the byte stream: preamble → (headers → body)* → epilogue."""

    def __init__(self, boundary: bytes, limits: PartLimits) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.limits = limits
        self.buffer = bytearray(b"\r\n")  # so a boundary at the very start is found too
        self.part: Part | None = None
        self.in_headers = False
        self.scanned = 0  # header bytes already searched for their end (never searched again)
        self.line_end = -1  # where the boundary line ends, once found
        self.done = False
        self.count = 0

    def feed(self, chunk: bytes) -> list[Part]:
        self.buffer += chunk
        finished: list[Part] = []
        while not self.done:
            if self.in_headers:
                if not self._read_headers():
                    break
                continue
            at = self.buffer.find(self.delimiter)
            if at < 0:
                self._write(len(self.buffer) - len(self.delimiter) - 4)
                break
            self._write(at)  # the delimiter now starts the buffer
            tail = len(self.delimiter)
            if len(self.buffer) < tail + 2:
                break  # need to see what follows the delimiter
            follows = bytes(self.buffer[tail : tail + 2])
            if follows != b"--" and follows[:1] not in (b"\r", b" ", b"\t"):
                self._write(1)  # delimiter-like content, not a boundary (RFC 2046 §5.1.1)
                continue
            if self.part is not None:
                self.part.body.seek(0)
                finished.append(self.part)
                self.part = None
            if follows == b"--":
                self.done = True
                break
            del self.buffer[:tail]
            self.in_headers = True
        return finished

    def _write(self, upto: int) -> None:
        if upto <= 0:
            return
        if self.part is not None:
            with memoryview(self.buffer) as view:
                self.part.write(view[:upto])
            if self.part.size > self.limits.max_part_bytes:
                raise PayloadTooLarge(f"a part is larger than {self.limits.max_part_bytes} bytes")
        del self.buffer[:upto]

    def _read_headers(self) -> bool:
        """The boundary line's padding, then the headers up to a blank line; both searched
        only within ``MAX_HEADER_BYTES`` and from where the previous chunk's search stopped."""
        if self.line_end < 0:  # transport padding after the boundary line, then CRLF
            self.line_end = self.buffer.find(b"\r\n", max(self.scanned - 1, 0), MAX_HEADER_BYTES)
            if self.line_end < 0:
                return self._wait_for_headers()
            self.scanned = self.line_end
        end = self.buffer.find(b"\r\n\r\n", max(self.scanned - 3, self.line_end), MAX_HEADER_BYTES)
        if end < 0:  # == line_end when there are no headers
            return self._wait_for_headers()
        headers = _parse_headers(bytes(self.buffer[self.line_end + 2 : end]))
        del self.buffer[: end + 4]
        self.scanned, self.line_end = 0, -1
        self.count += 1
        if self.count > self.limits.max_parts:
            raise PayloadTooLarge(f"more than {self.limits.max_parts} parts in one request")
        self.part = Part(headers, index=self.count - 1)
        self.in_headers = False
        return True

    def _wait_for_headers(self) -> bool:
        """No end of headers yet: remember how far we looked, and refuse past the limit."""
        if len(self.buffer) >= MAX_HEADER_BYTES:
            raise DicomwebError(f"multipart part headers are longer than {MAX_HEADER_BYTES} B")
        self.scanned = len(self.buffer)
        return False

    def close(self) -> None:
        if self.part is not None:
            self.part.close()
            self.part = None
        if not self.done and sys.exc_info()[0] is None:
            raise DicomwebError("multipart body ended before its closing boundary")


async def iter_parts(
    chunks: AsyncIterator[bytes], boundary: bytes, limits: PartLimits | None = None
) -> AsyncIterator[Part]:
    """Yield each part of a multipart body as soon as it is complete."""
    limits = limits or PartLimits()
    reader = _Reader(boundary, limits)
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise PayloadTooLarge(f"request body is larger than {limits.max_request_bytes} B")
            for part in reader.feed(chunk):
                yield part
            if reader.done:
                break
    finally:
        reader.close()


async def spool_body(chunks: AsyncIterator[bytes], limits: PartLimits | None = None) -> Part:
    """A single-part body (``application/dicom``) as one spooled part."""
    limits = limits or PartLimits()
    part = Part({"content-type": "application/dicom"})
    async for chunk in chunks:
        part.write(chunk)
        if part.size > min(limits.max_part_bytes, limits.max_request_bytes):
            part.close()
            raise PayloadTooLarge(f"request body is larger than {limits.max_part_bytes} bytes")
    part.body.seek(0)
    return part


def new_boundary() -> str:
    return uuid.uuid4().hex


def part_header(
    boundary: str, content_type: str, extra: dict[str, str] | None = None, first: bool = False
) -> bytes:
    """The delimiter and headers that open one part of a multipart response; every part but
    the first starts with the CRLF that ends the previous part's body."""
    opening = "" if first else "\r\n"
    lines = [f"{opening}--{boundary}", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing_delimiter(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("latin-1")


def to_part(ds: Dataset) -> Part:
    """Write ``ds`` as a Part 10 file into a new part (``application/dicom``); on disk when its
    pixel data alone passes the multipart spool threshold, like a received part."""
    large = len(ds.get("PixelData") or b"") > SPOOL_IN_MEMORY
    body = cast(BinaryIO, tempfile.TemporaryFile() if large else io.BytesIO())  # noqa: SIM115
    try:
        ds.save_as(body, enforce_file_format=True)
    except BaseException:
        body.close()
        raise
    size = body.tell()
    body.seek(0)
    return Part({"content-type": "application/dicom"}, body, size)
