"""Numbers and booleans in parameters: ASCII only, bounded, a 400 otherwise — never a 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import InvalidQuery
from dicomcommon.search.query import parse_query
from dicomcommon.web import parameters


@given(st.integers(min_value=0, max_value=parameters.MAX_BIGINT))
def test_every_bounded_integer_reads_back(value: int) -> None:
    assert parameters.integer("n", str(value)) == value


@given(st.text(max_size=30))
def test_any_text_is_an_ascii_integer_in_bounds_or_invalid_query(text: str) -> None:
    try:
        value = parameters.integer("n", text, low=1, high=1000)
    except InvalidQuery:
        return
    assert 1 <= value <= 1000
    assert text.strip().lstrip("+").isascii()


@given(st.text(max_size=80))
def test_any_text_is_a_finite_ascii_number_or_invalid_query(text: str) -> None:
    try:
        value = parameters.number("x", text)
    except InvalidQuery:
        return
    assert text.isascii() or text.strip().isascii()
    assert abs(value) < float("inf")


@pytest.mark.parametrize(
    "text", ["²", "\uff11\uff10", "\u0661", str(2**63), str(2**64), "9" * 5000, "1.5", "", " "]
)
def test_integers_that_are_not_ascii_or_not_bounded_are_refused(text: str) -> None:
    with pytest.raises(InvalidQuery):
        parameters.integer("limit", text)


@pytest.mark.parametrize("text", ["²", "\u0661", "1e999", "nan", "inf", "1_000", "0x10", "9" * 65])
def test_numbers_that_are_not_finite_ascii_decimals_are_refused(text: str) -> None:
    with pytest.raises(InvalidQuery):
        parameters.number("window", text)


def test_integer_lists_are_bounded_in_length() -> None:
    assert parameters.integers("frames", "1, 2,3", most=3, low=1) == [1, 2, 3]
    with pytest.raises(InvalidQuery):
        parameters.integers("frames", "1,2,3,4", most=3, low=1)
    with pytest.raises(InvalidQuery):
        parameters.integers("frames", "0", most=3, low=1)


def test_booleans_are_true_or_false_and_absent_is_the_default() -> None:
    assert parameters.boolean("b", "TRUE", False) is True
    assert parameters.boolean("b", None, True) is True
    assert parameters.boolean("b", "", False) is False
    with pytest.raises(InvalidQuery):
        parameters.boolean("b", "1", False)


@pytest.mark.parametrize("pair", [("PatientID", "a\0"), ("a\0", "x"), ("limit", "\0")])
def test_nul_in_a_parameter_is_refused(pair: tuple[str, str]) -> None:
    """PostgreSQL's text cannot hold NUL: such a value never reaches SQL."""
    with pytest.raises(InvalidQuery, match="NUL"):
        parameters.texts([("offset", "1"), pair])


def test_query_with_nul_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="NUL"):
        parse_query(Level.STUDY, [("PatientName", "DOE\0")], max_limit=100)


def test_instant_reads_iso_dates_and_times_with_utc_by_default() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert parameters.instant("t", None) is None
    assert parameters.instant("t", "") is None
    assert parameters.instant("t", "2024-05-06") == datetime(2024, 5, 6, tzinfo=UTC)
    east = timezone(timedelta(hours=2))
    # a '+' sent unencoded arrives as a space
    assert parameters.instant("t", "2024-05-06T07:08:09 02:00") == datetime(
        2024, 5, 6, 7, 8, 9, tzinfo=east
    )


@pytest.mark.parametrize("bad", ["yesterday", "2024-05-0\u0666", "2024-05-06T" + "0" * 80, "1e9"])
def test_instant_refuses_anything_but_a_short_ascii_iso_date_time(bad: str) -> None:
    with pytest.raises(InvalidQuery, match="startTime"):
        parameters.instant("startTime", bad)


def test_names_bind_case_insensitively_and_values_are_stripped() -> None:
    found = parameters.by_lowered_name([("StartTime", " 2024 "), ("LIMIT", "5")])
    assert found == {"starttime": "2024", "limit": "5"}
    with pytest.raises(InvalidQuery):
        parameters.by_lowered_name([("limit", "5\0")])
