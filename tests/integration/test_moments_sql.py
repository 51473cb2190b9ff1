"""Date-time matching has one authority, ``dicomcommon.dicom.moments``; the SQL functions of
migration 0011 that read stored values (``dicom_utc_moment``, ``dicom_offset_minutes``) are checked
against it on generated values, in the real PostgreSQL: a DT value and its bounds must name the
same moment on both sides, or a search would miss or add matches."""

from __future__ import annotations

import asyncio
import datetime

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomcommon.dicom import moments
from dicomstack.stack import Stack

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))
_OFFSETS = st.sampled_from([None, 0, 60, -300, 330, 840, -720])


@st.composite
def dt_values(draw: st.DrawFn) -> str:
    """DT values of every precision (PS3.5 Table 6.2-1), with or without their own offset."""
    moment = draw(st.datetimes(datetime.datetime(1800, 1, 1), datetime.datetime(2200, 12, 31)))
    digits = moment.strftime("%Y%m%d%H%M%S")
    text = digits[: draw(st.sampled_from([4, 6, 8, 10, 12, 14]))]
    if len(text) == 14 and draw(st.booleans()):
        text += "." + f"{moment.microsecond:06d}"[: draw(st.integers(1, 6))]
    if draw(st.booleans()):
        hours, minutes = draw(st.integers(0, 14)), draw(st.sampled_from([0, 30, 45]))
        text += f"{draw(st.sampled_from('+-'))}{hours:02d}{minutes:02d}"
    return text


def offset_texts() -> st.SearchStrategy[str]:
    digits = st.text("0123456789", min_size=4, max_size=4)
    return st.one_of(st.builds(lambda s, d: s + d, st.sampled_from("+- "), digits), _TEXT)


async def _evaluate(stack: Stack, sql: str, *args: object) -> list[object]:
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        return [r[0] for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.tuples(dt_values(), _OFFSETS), min_size=1, max_size=50))
def test_stored_dt_values_start_at_the_moment_python_computes(
    stack: Stack, values: list[tuple[str, int | None]]
) -> None:
    texts, offsets = [v for v, _ in values], [o for _, o in values]
    sql = (
        "SELECT dicom_utc_moment(v, o)"
        " FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(v, o, n) ORDER BY n"
    )
    found = asyncio.run(_evaluate(stack, sql, texts, offsets))
    expected = [moments.first_instant(v, o) for v, o in values]
    assert found == expected


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(offset_texts(), min_size=1, max_size=50))
def test_offsets_read_the_same_in_sql_and_python(stack: Stack, texts: list[str]) -> None:
    sql = (
        "SELECT dicom_offset_minutes(v)"
        " FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n"
    )
    found = asyncio.run(_evaluate(stack, sql, texts))
    assert found == [moments.offset_minutes(t) for t in texts]
