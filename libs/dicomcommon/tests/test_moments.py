"""DT values and offsets as moments: each value spans its precision, in its own offset."""

from __future__ import annotations

from datetime import datetime

import pytest

from dicomcommon.dicom import moments


@pytest.mark.parametrize(
    ("value", "offset", "first", "last"),
    [
        ("2024", None, datetime(2024, 1, 1), datetime(2024, 12, 31, 23, 59, 59, 999999)),
        ("202412", None, datetime(2024, 12, 1), datetime(2024, 12, 31, 23, 59, 59, 999999)),
        ("2024021510", 0, datetime(2024, 2, 15, 10), datetime(2024, 2, 15, 10, 59, 59, 999999)),
        ("20240301233000.25", None, datetime(2024, 3, 1, 23, 30, 0, 250000),
         datetime(2024, 3, 1, 23, 30, 0, 259999)),
        # its own offset wins over the one it is read in
        ("20240302003000+0100", -300, datetime(2024, 3, 1, 23, 30),
         datetime(2024, 3, 1, 23, 30, 0, 999999)),
        ("20240301183000", -300, datetime(2024, 3, 1, 23, 30),
         datetime(2024, 3, 1, 23, 30, 0, 999999)),
        ("9999", None, datetime(9999, 1, 1), datetime.max),
    ],
)  # fmt: skip
def test_a_value_spans_its_precision_in_utc(
    value: str, offset: int | None, first: datetime, last: datetime
) -> None:
    assert moments.first_instant(value, offset) == first
    assert moments.last_instant(value, offset) == last


@pytest.mark.parametrize("value", ["20241301", "2024010125", "20240101+2500", "0000", "2024x"])
def test_a_value_that_names_no_moment_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        moments.first_instant(value, None)


@pytest.mark.parametrize(
    ("text", "minutes"), [("+0100", 60), ("-0330", -210), ("+2359", 1439), ("0100", None)]
)
def test_offsets_in_minutes_east_of_utc(text: str, minutes: int | None) -> None:
    assert moments.offset_minutes(text) == minutes


def test_a_moment_moved_past_the_ends_of_time_stays_there() -> None:
    assert moments.moved(datetime(2024, 3, 1, 23, 30), 90) == datetime(2024, 3, 2, 1, 0)
    assert moments.moved(datetime.max, 60) == datetime.max
    assert moments.moved(datetime.min, -60) == datetime.min
