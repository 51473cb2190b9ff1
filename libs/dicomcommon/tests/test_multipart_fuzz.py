"""Fuzzing the multipart reader (hypothesis): any split of a valid body into chunks gives the
same parts, and a damaged body gives the reader's clean error (a ``DicomwebError``), never
another exception, with its buffer bounded after every chunk."""

from __future__ import annotations

import itertools
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomcommon.errors import DicomwebError
from dicomcommon.web import multipart

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SMALL_HEADER_LIMIT = 512  # a small limit, so short generated bodies reach it
BOUNDARIES = st.sampled_from([b"XyZ", b"b", b"dicomweb-boundary-0123456789", b"--", b" a"])
# Part contents that like to look like delimiters, and plain noise.
CONTENT = st.one_of(
    st.binary(max_size=64),
    st.lists(
        st.sampled_from([b"\r\n", b"--", b"XyZ", b"b", b"\r\n--XyZ", b"\r\n--b", b" ", b"x"]),
        max_size=12,
    ).map(b"".join),
)


def _body(boundary: bytes, parts: list[bytes], preamble: bytes, epilogue: bytes) -> bytes:
    text = boundary.decode("latin-1")
    out = preamble + (b"\r\n" if preamble else b"")
    for i, part in enumerate(parts):
        out += multipart.part_header(text, "application/dicom", first=i == 0) + part
    return out + multipart.closing_delimiter(text) + epilogue


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _read(boundary: bytes, chunks: list[bytes]) -> list[bytes]:
    """The parts' bodies; checks the buffer's bound after every chunk."""
    reader = multipart._Reader(boundary, multipart.PartLimits(max_parts=50, max_part_bytes=4096))
    found: list[bytes] = []
    try:
        for chunk in chunks:
            for part in reader.feed(chunk):
                found.append(part.body.read())
                part.close()
            if reader.done:
                break  # what is left is the epilogue of this chunk: no more is read
            bound = multipart.MAX_HEADER_BYTES + len(reader.delimiter) + 4
            assert len(reader.buffer) <= bound, len(reader.buffer)
    finally:
        reader.close()
    return found


def _without_delimiter(boundary: bytes, parts: list[bytes]) -> bool:
    return all(b"\r\n--" + boundary not in b"\r\n" + p + b"\r\n" for p in parts)


@FUZZ
@given(
    boundary=BOUNDARIES,
    parts=st.lists(CONTENT, max_size=6),
    preamble=st.binary(max_size=16).filter(lambda p: b"--" not in p),
    epilogue=st.binary(max_size=16),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_any_split_of_a_valid_body_gives_the_same_parts(
    boundary: bytes, parts: list[bytes], preamble: bytes, epilogue: bytes, cuts: list[int]
) -> None:
    if not _without_delimiter(boundary, parts):
        return  # a part holding its own delimiter is not a valid body
    data = _body(boundary, parts, preamble, epilogue)
    with mock.patch.object(multipart, "MAX_HEADER_BYTES", SMALL_HEADER_LIMIT):
        assert _read(boundary, _split(data, cuts)) == _read(boundary, [data]) == parts


_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["cut", "insert", "replace", "delete", "pad"]),
        st.integers(min_value=0, max_value=10_000),
        st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def _damaged(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    for kind, where, noise in edits:
        at = where % (len(data) + 1)
        if kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + noise + data[at:]
        elif kind == "replace":
            data = data[:at] + noise + data[at + len(noise) :]
        elif kind == "delete":
            data = data[:at] + data[at + len(noise) :]
        else:  # spaces after a boundary line, without its CRLF
            data = data[:at] + b" " * (SMALL_HEADER_LIMIT * 2) + data[at:]
    return data


@FUZZ
@given(
    boundary=BOUNDARIES,
    parts=st.lists(CONTENT, max_size=5),
    edits=_EDITS,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_damaged_bodies_give_a_clean_error_or_parts(
    boundary: bytes, parts: list[bytes], edits: list[tuple[str, int, bytes]], cuts: list[int]
) -> None:
    data = _damaged(_body(boundary, parts, b"", b""), edits)
    with mock.patch.object(multipart, "MAX_HEADER_BYTES", SMALL_HEADER_LIMIT):
        try:
            whole = _read(boundary, [data])
        except DicomwebError:
            whole = None
        try:
            split = _read(boundary, _split(data, cuts))
        except DicomwebError:
            split = None
    assert split == whole  # the chunking never changes the outcome
