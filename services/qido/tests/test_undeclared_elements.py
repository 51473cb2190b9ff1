"""Undeclared instance-level keys read the small elements each instance row keeps
(``search_elements``, migration 0021) and its stored metadata only for what those do not hold:
the answers are the ones the metadata alone gives, for every kind of element (small, long,
empty, absent, bulk data, small and large sequences, private tags, person names)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson
import pytest

from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.schema import MIGRATIONS
from dicomcommon.search import sql
from dicomcommon.search.query import parse_query
from dicomcommon.settings import PostgresSettings

STUDY = "1.2.826.0.1.3680043.10.1021.1"
SERIES = f"{STUDY}.1"
LONG = "NEEDLE" + "x" * 100  # past the 64 bytes an element may take in the row


def _e(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _items(count: int) -> dict[str, Any]:
    return {"vr": "SQ", "Value": [{"0020000E": _e("UI", f"1.2.{n}")} for n in range(count)]}


METADATA: dict[int, dict[str, Any]] = {
    1: {
        "00280100": _e("US", 16),
        "00180050": _e("DS", 1.25),
        "00111010": _e("UN", "NEEDLE"),
        "00204000": _e("LT", "xray"),
        "00700084": _e("PN", {"Alphabetic": "Roe^John"}),
    },
    2: {
        "00280100": _e("US", 8),
        "00111010": _e("UN", LONG),
        "00204000": _e("LT"),
        "00700084": _e("PN", {"Alphabetic": "Doe^Jane"}),
    },
    3: {
        "00091001": {"vr": "OB", "BulkDataURI": "http://x/1"},
        "00091002": {"vr": "OB", "InlineBinary": "AAAA"},
        "00081115": {"vr": "SQ", "Value": [{}]},  # small enough to keep: one empty item
    },
    4: {"00081115": _items(5), "00204000": _e("LT", LONG)},
}


@pytest.fixture(scope="module")
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A fresh schema with every migration and the instances above; dropped after the module."""
    schema = f"qido_elements_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}, public")
    try:
        for script in sorted(p.name for p in MIGRATIONS.iterdir() if p.name.endswith(".sql")):
            await conn.execute((MIGRATIONS / script).read_text())
        await _insert(conn)
        url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}search_path={quote(schema)}"
        searches = await db.create_pool(PostgresSettings(url=url))
        try:
            yield searches
        finally:
            await searches.close()
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def _insert(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO study (study_instance_uid, attributes) VALUES ($1, '{}')", STUDY
    )
    await conn.execute(
        "INSERT INTO series (series_instance_uid, study_instance_uid, attributes)"
        " VALUES ($1, $2, '{}')",
        SERIES, STUDY,
    )  # fmt: skip
    for number, metadata in METADATA.items():
        await conn.execute(
            "INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,"
            " sop_class_uid, instance_number, transfer_syntax_uid, blob_key, size, sha256,"
            " metadata, version, summary) VALUES ($1, $2, $3, '1.2', $4, '1.2.840.10008.1.2.1',"
            " $1, 1, '0', $5::text::jsonb, 1, '')",
            f"{SERIES}.{number}", SERIES, STUDY, str(number), orjson.dumps(metadata).decode(),
        )  # fmt: skip


async def _matches(pool: asyncpg.Pool, params: dict[str, str], *, rows: bool = True) -> list[int]:
    """The instance numbers that match; with ``rows=False`` as if no row kept any element
    (each JSON null), so every value is read from the metadata: the answer before 0021."""
    query = parse_query(Level.INSTANCE, list(params.items()), max_limit=100,
                        study_instance_uid=STUDY)  # fmt: skip
    search = sql.build_search(query, "http://x")
    text = search.json_text
    if not rows:
        nothing_kept = (
            "(SELECT jsonb_object_agg(k, 'null'::jsonb) FROM jsonb_object_keys(i.metadata) k)"
        )
        text = text.replace("i.search_elements", nothing_kept)
    [answer] = await db.fetch(pool, text, *search.args)
    return sorted(int(uid.rpartition(".")[2]) for uid in answer["uids"] or [])


async def test_rows_keep_small_elements_and_mark_the_others_for_the_metadata(
    pool: asyncpg.Pool,
) -> None:
    kept = {
        r["n"]: orjson.loads(r["e"])
        for r in await db.fetch(
            pool, "SELECT instance_number::int AS n, search_elements::text AS e FROM instance"
        )
    }
    assert kept[1] == {
        "00280100": [16],
        "00180050": [1.25],
        "00111010": ["NEEDLE"],
        "00204000": ["xray"],
        "00700084": None,
    }  # a name object is larger
    assert kept[2] == {"00280100": [8], "00111010": None, "00204000": [], "00700084": None}
    assert kept[3] == {"00091001": None, "00091002": None,
                       "00081115": [{}]}  # fmt: skip
    assert kept[4] == {"00081115": None, "00204000": None}


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"BitsAllocated": "16"}, [1]),
        ({"BitsAllocated": "8"}, [2]),
        ({"BitsAllocated": "16", "emptyvaluematching": "true"}, [1, 3, 4]),
        ({"SliceThickness": "1.25"}, [1]),
        ({"00111010": "NEEDLE"}, [1]),
        ({"00111010": "NEEDLE*"}, [1, 2]),
        ({"00111010": LONG}, [2]),
        ({"ImageComments": "*x*"}, [1, 4]),
        ({"ImageComments": "nothing", "emptyvaluematching": "true"}, [2, 3]),
        ({"ContentCreatorName": "doe^jane"}, [2]),
        ({"ContentCreatorName": "jo", "fuzzymatching": "true"}, [1]),
        ({"ReferencedSeriesSequence.SeriesInstanceUID": "1.2.4"}, [4]),
        ({"ReferencedSeriesSequence.SeriesInstanceUID": "1.2.0,1.2.9"}, [4]),
        ({"00091001": "x", "emptyvaluematching": "true"}, [1, 2, 3, 4]),  # bulk: no Value
        ({"00091002": "AAAA"}, []),
    ],
)
async def test_an_undeclared_key_answers_as_the_metadata_alone(
    pool: asyncpg.Pool, params: dict[str, str], found: list[int]
) -> None:
    assert await _matches(pool, params) == found
    assert await _matches(pool, params, rows=False) == found


async def test_rewritten_metadata_is_searched_by_its_new_elements(pool: asyncpg.Pool) -> None:
    """PostgreSQL derives the kept elements from the metadata on every write (stores,
    reindexes), so no writer keeps them in step."""
    changed = {**METADATA[1], "00280100": _e("US", 12)}
    await db.fetch(
        pool,
        "UPDATE instance SET metadata = $1::text::jsonb WHERE sop_instance_uid = $2",
        orjson.dumps(changed).decode(), f"{SERIES}.1",
    )  # fmt: skip
    try:
        assert await _matches(pool, {"BitsAllocated": "12"}) == [1]
    finally:
        await db.fetch(
            pool,
            "UPDATE instance SET metadata = $1::text::jsonb WHERE sop_instance_uid = $2",
            orjson.dumps(METADATA[1]).decode(), f"{SERIES}.1",
        )  # fmt: skip
