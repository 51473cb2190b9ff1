"""The extended-query-tag value check (``dicom_tag_value_error``, migrations 0017 and 0018)
against real PostgreSQL: which stored DICOM JSON elements can be indexed as a tag's value."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from dicomcommon.adapters import db

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("element", "vr", "error"),
    [
        ({"vr": "DT", "Value": ["20240302003000+0100"]}, "DT", None),
        ({"vr": "DT", "Value": ["2024"]}, "DT", None),
        ({"vr": "DT", "Value": ["20241301"]}, "DT", "The value is not a date-time"),
        ({"vr": "DT", "Value": ["yesterday"]}, "DT", "The value is not a date-time"),
        ({"vr": "SQ", "Value": [{}]}, "LO", "The value has VR SQ, not LO."),
        ({"vr": "DA", "Value": ["20240230x"]}, "DA", "The value is not a date"),
    ],
)
async def test_a_value_is_indexed_only_when_its_vr_can_hold_it(
    pool: asyncpg.Pool, element: dict[str, object], vr: str, error: str | None
) -> None:
    statement = "SELECT dicom_tag_value_error($1::text::jsonb, $2) AS error"
    row = await db.fetchrow(pool, statement, orjson.dumps(element).decode(), vr)
    assert row is not None
    found = row["error"]
    assert (found is None) if error is None else (found or "").startswith(error), found
