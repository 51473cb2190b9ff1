"""A search that matches instances' stored documents joins their studies whole (a hash join,
or the matching studies' instances through an index), never by looking up the study of each
instance it reads: the documents' cost hid the join's from the planner, which then took one
index lookup into ``study`` per instance. And each document test is PostgreSQL's own
containment function (migration 0024), no PL/pgSQL call per instance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from dicomcommon.adapters.db import _init_connection
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.schema import MIGRATIONS
from dicomcommon.search import sql
from dicomcommon.search.query import parse_query

STUDIES, PER_STUDY = 100, 30
ROOT = "1.2.826.0.1.3680043.10.1024"


@pytest.fixture(scope="module")
async def conn(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A fresh schema with every migration, 100 studies of 30 instances, analyzed."""
    schema = f"qido_join_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    await _init_connection(conn)
    await conn.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}, public")
    try:
        for script in sorted(p.name for p in MIGRATIONS.iterdir() if p.name.endswith(".sql")):
            await conn.execute((MIGRATIONS / script).read_text())
        await _insert(conn)
        yield conn
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def _insert(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO study (study_instance_uid, study_date, attributes, access_groups) "
        "SELECT $1 || '.' || s, to_char(date '2020-01-01' + s, 'YYYYMMDD'), '{}', "
        "ARRAY['radiology'] "
        "FROM generate_series(1, $2) s",
        ROOT, STUDIES,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO series (series_instance_uid, study_instance_uid, attributes) "
        "SELECT study_instance_uid || '.1', study_instance_uid, '{}' FROM study"
    )
    await conn.execute(
        "INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,"
        " sop_class_uid, instance_number, transfer_syntax_uid, blob_key, size, sha256,"
        " metadata, version, summary) SELECT se.series_instance_uid || '.' || n,"
        " se.series_instance_uid, se.study_instance_uid, '1.2', n::text,"
        " '1.2.840.10008.1.2.1', se.series_instance_uid || '.' || n, 1, '0',"
        " jsonb_build_object('00280100', jsonb_build_object('vr', 'US', 'Value',"
        " jsonb_build_array(CASE WHEN n % 10 = 0 THEN 8 ELSE 16 END))), 1, ''"
        " FROM series se, generate_series(1, $1) n",
        PER_STUDY,
    )  # fmt: skip
    await conn.execute("ANALYZE study; ANALYZE series; ANALYZE instance")


def _count(params: dict[str, str], groups: tuple[str, ...] | None = None) -> sql.Count:
    query = parse_query(Level.INSTANCE, list(params.items()), max_limit=100)
    return sql.build_count(query, 100_000, groups)


def _literal(value: Any) -> str:
    """A bind value as SQL text (``EXECUTE`` takes no bind values): the test's own."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):  # text[]
        value = "{" + ",".join(orjson.dumps(v).decode() for v in value) + "}"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()  # jsonb
    return "'" + text.replace("'", "''") + "'"


def _study_lookups(plan: dict[str, Any]) -> list[str]:
    """Index conditions that find a study by the instance in hand."""
    found = []
    if plan.get("Relation Name") == "study" and "i.study_instance_uid" in plan.get(
        "Index Cond", ""
    ):
        found.append(plan["Index Cond"])
    for child in plan.get("Plans", ()):
        found += _study_lookups(child)
    return found


@pytest.mark.parametrize("groups", [None, ("radiology",)])
@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_an_undeclared_instance_count_joins_its_studies_whole(
    conn: asyncpg.Connection, mode: str, groups: tuple[str, ...] | None
) -> None:
    """Planned for its values or generic (as asyncpg's prepared statements run it from the
    sixth execution on), the plan never reads a study per instance, nor do the caller's
    access groups; the count is the same."""
    count = _count({"StudyDate": "20200101-20301231", "BitsAllocated": "16"}, groups)
    values = ", ".join(_literal(v) for v in count.args)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        await conn.execute(f"PREPARE counted AS {count.text}")
        explain = f"EXPLAIN (FORMAT JSON) EXECUTE counted({values})"
        [plan] = orjson.loads(await conn.fetchval(explain))
        found = await conn.fetchval(count.text, *count.args)
        await conn.execute("DEALLOCATE counted")
    assert _study_lookups(plan["Plan"]) == []
    assert found == STUDIES * PER_STUDY * 9 // 10


async def test_a_narrow_study_key_still_reads_only_its_studies_instances(
    conn: asyncpg.Connection,
) -> None:
    """The studies' own conditions stay index-backed: one day's study, then its instances
    through their index, not every instance of the archive."""
    count = _count({"StudyDate": "20200102", "BitsAllocated": "16"})
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        [plan] = orjson.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {count.text}",
                                                  *count.args))  # fmt: skip
        found = await conn.fetchval(count.text, *count.args)
    assert "Seq Scan" not in orjson.dumps(plan).decode()
    assert found == PER_STUDY * 9 // 10


async def test_the_document_test_is_postgresqls_own_containment_at_its_cost(
    conn: asyncpg.Connection,
) -> None:
    """Migrated by a superuser (as here), each instance's test is a call of ``jsonb_contains``
    itself, no PL/pgSQL (0024); its cost still tells the planner to narrow first (0018)."""
    language, cost = await conn.fetchrow(
        "SELECT l.lanname, p.procost FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.oid = 'dicom_metadata_contains'::regproc"
    )
    assert (language, cost) == ("internal", 5000)
    found = await conn.fetchval(
        "SELECT count(*) FROM instance i WHERE dicom_metadata_contains(i.metadata, $1)",
        {"00280100": {"Value": [8]}},
    )
    assert found == STUDIES * PER_STUDY // 10
