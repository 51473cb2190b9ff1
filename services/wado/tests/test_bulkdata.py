"""Bulk data paths and HTTP Range parsing (PS3.18 §10.4.1.1.4, RFC 9110 §14)."""

from __future__ import annotations

import pytest

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
