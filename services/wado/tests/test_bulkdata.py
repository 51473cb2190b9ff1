"""Bulk data paths and HTTP Range parsing (PS3.18 §10.4.1.1.4, RFC 9110 §14)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from dicomcommon.errors import DicomwebError
from wado import bulkdata


@pytest.mark.parametrize("path", ["7FE00010", "00409096/0/00283006", "7fe00010"])
def test_bulk_data_paths_from_ingest_are_accepted(path: str) -> None:
    assert bulkdata.bulk_path(path) == path.upper()


@pytest.mark.parametrize("path", ["../etc", "7FE0001", "00409096/x/00283006", ""])
def test_other_bulk_data_paths_are_bad_requests(path: str) -> None:
    with pytest.raises(DicomwebError) as raised:
        bulkdata.bulk_path(path)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 90)),
        ("bytes=-5", (95, 5)),
        ("bytes=90-1000", (90, 10)),
        ("bytes=0-1,5-6", None),
        ("items=1-2", None),
    ],
)
def test_range_header_selects_part_of_a_value(
    header: str | None, expected: tuple[int, int] | None
) -> None:
    assert bulkdata.byte_range(header, 100) == expected


def test_range_past_the_end_is_not_satisfiable() -> None:
    with pytest.raises(bulkdata.RangeNotSatisfiable):
        bulkdata.byte_range("bytes=100-", 100)


def _request(range_header: str | None) -> Request:
    headers = [(b"range", range_header.encode())] if range_header else []
    return Request({"type": "http", "method": "GET", "headers": headers, "query_string": b""})


def test_single_part_frame_of_encapsulated_pixel_data_honours_range() -> None:
    frame = Response(
        bytes(range(100)), media_type="image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    )
    answer = bulkdata.with_range(_request("bytes=10-19"), frame)
    assert answer.status_code == 206
    assert answer.body == bytes(range(10, 20))
    assert answer.headers["content-range"] == "bytes 10-19/100"


def test_unsatisfiable_range_names_the_length() -> None:
    frame = Response(b"x" * 100, media_type="application/octet-stream")
    answer = bulkdata.with_range(_request("bytes=200-"), frame)
    assert answer.status_code == 416
    assert answer.headers["content-range"] == "bytes */100"


def test_multipart_answer_ignores_range() -> None:
    parts = Response(b"--b--", media_type='multipart/related; type="image/jpeg"; boundary=b')
    assert bulkdata.with_range(_request("bytes=0-1"), parts) is parts
