"""The change feed's query model: Microsoft's parameter names, defaults and bounds, 400s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dicomcommon.errors import InvalidQuery
from qido import changefeed as feed


def test_v1_defaults_are_ten_entries_with_metadata_from_the_start() -> None:
    assert feed.parse_v1([]) == feed.FeedQuery(limit=10, include_metadata=True, after=0)


def test_v1_names_are_case_insensitive_and_offset_is_the_last_sequence_seen() -> None:
    query = feed.parse_v1([("Offset", "41"), ("LIMIT", "100"), ("IncludeMetadata", "False")])
    assert (query.after, query.skip, query.limit, query.include_metadata) == (41, 0, 100, False)


def test_v2_defaults_are_a_hundred_entries_and_offset_skips_rows() -> None:
    query = feed.parse_v2([("offset", "7")])
    assert (query.after, query.skip, query.limit, query.start, query.end) == (0, 7, 100, None, None)
    assert feed.parse_v2([("limit", "200")]).limit == 200


def test_v2_times_without_offset_are_utc_and_an_unencoded_plus_is_read_back() -> None:
    query = feed.parse_v2([("startTime", "2024-03-01"), ("endTime", "2024-03-02T10:00:00 02:00")])
    assert query.start == datetime(2024, 3, 1, tzinfo=UTC)
    assert query.end == datetime(2024, 3, 2, 10, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    "params",
    [
        [("limit", "0")],
        [("limit", "101")],
        [("limit", "-5")],
        [("limit", "\uff11\uff10")],  # full-width digits: str.isdigit says yes, we say no
        [("offset", "abc")],
        [("offset", str(2**63))],
        [("includemetadata", "yes")],
    ],
)
def test_v1_rejects_bad_parameters(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidQuery):
        feed.parse_v1(params)


@pytest.mark.parametrize(
    "params",
    [
        [("limit", "201")],
        [("offset", "-1")],
        [("startTime", "not a time")],
        [("endTime", "2024-13-01")],
        [("startTime", "2024-02-01"), ("endTime", "2024-01-01")],
    ],
)
def test_v2_rejects_bad_parameters(params: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidQuery):
        feed.parse_v2(params)
