"""The streaming multipart reader: boundaries, preamble, epilogue, chunk splits, limits."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import pytest

from dicomcommon.errors import DicomwebError, PayloadTooLarge
from dicomcommon.web import multipart


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _body(parts: list[bytes], boundary: str = "XyZ", preamble: bytes = b"") -> bytes:
    out = preamble
    for i, p in enumerate(parts):
        out += multipart.part_header(boundary, "application/dicom", first=i == 0 and not preamble)
        out += p
    return out + multipart.closing_delimiter(boundary) + b"epilogue ignored"


async def _read(data: bytes, size: int, **limits: int) -> list[bytes]:
    out = []
    async for part in multipart.iter_parts(
        _chunks(data, size), b"XyZ", multipart.PartLimits(**limits)
    ):
        assert part.content_type == "application/dicom"
        out.append(part.body.read())
        part.close()
    return out


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 1 << 16])
async def test_reads_every_part_whatever_the_chunking(chunk_size: int) -> None:
    parts = [b"first\r\n--Xy not a boundary", b"", b"\r\n--XyZZ" * 50]
    assert await _read(_body(parts), chunk_size) == parts


async def test_skips_preamble_and_epilogue() -> None:
    data = _body([b"abc"], preamble=b"this is a preamble\r\n")
    assert await _read(data, 5) == [b"abc"]


def test_media_type_parses_quoted_parameters() -> None:
    mt = multipart.MediaType.parse('Multipart/Related; type="application/dicom"; boundary="a;b"')
    assert mt.essence == "multipart/related"
    assert mt.params == {"type": "application/dicom", "boundary": "a;b"}


async def test_truncated_body_is_rejected() -> None:
    data = _body([b"abc"])[:-30]
    with pytest.raises(DicomwebError, match="closing boundary"):
        await _read(data, 4)


async def test_part_count_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        await _read(_body([b"a", b"b", b"c"]), 4, max_parts=2)


async def test_part_size_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        await _read(_body([b"x" * 1000]), 100, max_part_bytes=500)


async def test_large_part_moves_to_disk_and_keeps_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(multipart, "SPOOL_IN_MEMORY", 1000)
    payload = bytes(range(256)) * 20
    async for part in multipart.iter_parts(_chunks(_body([payload]), 333), b"XyZ"):
        assert not isinstance(part.body, io.BytesIO)
        assert part.body.read() == payload
        part.close()


@pytest.mark.parametrize("spool_in_memory", [1000, 1 << 20])
async def test_a_part_is_hashed_as_it_is_spooled_in_memory_or_on_disk(
    monkeypatch: pytest.MonkeyPatch, spool_in_memory: int
) -> None:
    monkeypatch.setattr(multipart, "SPOOL_IN_MEMORY", spool_in_memory)
    payloads = [bytes(range(256)) * 20, b"", b"second"]
    digests = []
    async for part in multipart.iter_parts(_chunks(_body(payloads), 333), b"XyZ"):
        digests.append(part.sha256)
        part.close()
    assert digests[0] == hashlib.sha256(payloads[0]).hexdigest()
    assert digests[1] is None  # nothing written: hashed by its reader, like any file
    assert digests[2] == hashlib.sha256(b"second").hexdigest()


def test_a_part_made_around_existing_bytes_has_no_digest_of_its_own() -> None:
    part = multipart.Part({}, io.BytesIO(b"from a file"), 11)
    assert part.sha256 is None


@pytest.mark.parametrize(("opening", "filler"), [(b"--XyZ", b" "), (b"--XyZ\r\n", b"x: y\r\n")])
def test_part_headers_that_never_end_are_refused_within_the_header_limit(
    opening: bytes, filler: bytes
) -> None:
    """A boundary line followed by padding and no CRLF (or headers and no blank line) used to
    grow the buffer without limit, rescanning it on every chunk."""
    reader = multipart._Reader(b"XyZ", multipart.PartLimits())
    reader.feed(opening)
    largest = 0
    with pytest.raises(DicomwebError, match="headers are longer"):
        for _ in range(4096):  # 4 MiB in 1 KiB chunks
            reader.feed(filler * (1024 // len(filler)))
            largest = max(largest, len(reader.buffer))
    assert largest <= multipart.MAX_HEADER_BYTES


def test_part_headers_are_searched_once_however_they_are_chunked() -> None:
    """Each chunk's search starts where the previous one stopped: byte-sized chunks of a
    long header block read it in linear time, and the part after it is intact."""
    header = b"--XyZ" + b" " * 1000 + b"\r\n" + b"X-Long: " + b"v" * 30_000 + b"\r\n\r\n"
    reader = multipart._Reader(b"XyZ", multipart.PartLimits())
    parts = []
    for i in range(len(header)):
        parts += reader.feed(header[i : i + 1])
    assert reader.part is not None
    assert reader.part.headers["x-long"] == "v" * 30_000
    parts += reader.feed(b"body\r\n--XyZ--")
    assert [p.body.read() for p in parts] == [b"body"]


@pytest.mark.parametrize(
    ("value", "pieces"),
    [
        ("a;b;c", ["a", "b", "c"]),
        ('a; t="x;y"; b', ["a", ' t="x;y"', " b"]),
        ('"";;"', ['""', "", '"']),  # an unclosed quote keeps the rest together
        ('a="1;2";b="3";', ['a="1;2"', 'b="3"', ""]),
        ("", [""]),
    ],
)
def test_split_unquoted_splits_only_outside_quotes(value: str, pieces: list[str]) -> None:
    assert multipart.split_unquoted(value, ";") == pieces
