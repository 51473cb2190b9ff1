"""The streaming multipart reader: boundaries, preamble, epilogue, chunk splits, limits."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest

from dicomcommon import multipart
from dicomcommon.errors import DicomwebError, PayloadTooLarge


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
