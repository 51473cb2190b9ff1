"""QIDO's order, paging and counts against a real PostgreSQL.

A corpus of studies with repeated, missing and oddly written dates, times, names and numbers
is searched through the app; every expected order is computed here in Python from the same
rows, and every paged walk and count is checked against the unpaged answer.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson
import pytest

from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import PayloadTooLarge
from dicomcommon.schema import MIGRATIONS
from dicomcommon.search import sql
from dicomcommon.search.query import parse_query
from dicomcommon.settings import HttpSettings, PostgresSettings
from qido import handlers
from qido.app import create_app
from qido.settings import Settings

pytestmark = pytest.mark.integration
Serve = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]  # conftest

ROOT = "1.2.826.0.1.3680043.10.543.16"
BASE_URL = "http://qido.test/dicom-web"
DATES = ["20240101", "20240101", "20231231", "20250607", None]
TIMES = ["0930", "093000", "120000", "235959.5", None]
NAMES = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", None]
CODES = ["MRN7", "MRN10", "MRN10", "mrn2", None]  # PatientID, AccessionNumber: text order
NUMBERS = ["1", "2", "10", " 3", "+4", None, "x"]  # IS as stored: padded, signed, missing, bad
ARRIVAL = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class StudyRow:
    uid: str
    date: str | None
    time: str | None
    name: str | None
    patient_id: str | None
    accession: str | None
    instances: int
    arrived: datetime.datetime


@dataclass(frozen=True)
class NumberedRow:
    uid: str
    study: str
    number: str | None


def _corpus() -> tuple[list[StudyRow], list[NumberedRow], list[NumberedRow]]:
    pick = random.Random(16)
    studies, series, instances = [], [], []
    for n in range(100, 140):
        arrived = ARRIVAL + datetime.timedelta(seconds=pick.choice([0, 1, 2]))  # ties too
        study = StudyRow(f"{ROOT}.{n}", pick.choice(DATES), pick.choice(TIMES),
                         pick.choice(NAMES), pick.choice(CODES), pick.choice(CODES),
                         pick.randint(1, 9), arrived)  # fmt: skip
        studies.append(study)
        for s in range(10, 10 + pick.randint(1, 3)):
            series.append(NumberedRow(f"{study.uid}.{s}", study.uid, pick.choice(NUMBERS)))
            for i in range(10, 10 + pick.randint(1, 3)):
                number = pick.choice(NUMBERS)
                instances.append(NumberedRow(f"{study.uid}.{s}.{i}", study.uid, number))
    return studies, series, instances


STUDIES, SERIES, INSTANCES = _corpus()


@pytest.fixture(scope="module")
async def schema_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh schema with every migration and the corpus; dropped after the module."""
    schema = f"qido_order_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}, public")
    migrations = MIGRATIONS
    try:
        for script in sorted(p.name for p in migrations.iterdir() if p.name.endswith(".sql")):
            await conn.execute((migrations / script).read_text())
        await _insert(conn)
        yield f"{postgres_url}{'&' if '?' in postgres_url else '?'}search_path={quote(schema)}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@pytest.fixture(scope="module")
async def client(schema_url: str, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        postgres=PostgresSettings(url=schema_url), http=HttpSettings(public_base_url=BASE_URL)
    )
    async with serve(settings) as c:
        yield c


async def _insert(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "INSERT INTO study (study_instance_uid, study_date, study_time, patient_name,"
        " patient_id, accession_number, number_of_instances, created_at, attributes)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{}')",
        [
            (s.uid, s.date, s.time, s.name, s.patient_id, s.accession, s.instances, s.arrived)
            for s in STUDIES
        ],
    )
    await conn.executemany(
        "INSERT INTO series (series_instance_uid, study_instance_uid, series_number,"
        " attributes) VALUES ($1, $2, $3, '{}')",
        [(s.uid, s.study, s.number) for s in SERIES],
    )
    await conn.executemany(
        "INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,"
        " sop_class_uid, instance_number, transfer_syntax_uid, blob_key, size, sha256,"
        " metadata, summary, version) VALUES ($1, $2, $3, $4, $5,"
        " '1.2.840.10008.1.2.1', $1, 1, '0', '{}', '', 1)",
        [(i.uid, i.uid.rsplit(".", 1)[0], i.study, SOP_CLASS, i.number) for i in INSTANCES],
    )


async def _uids(client: httpx.AsyncClient, path: str, tag: str, **params: str) -> list[str]:
    response = await client.get(f"/dicom-web{path}", params={"limit": "1000", **params})
    assert response.status_code in (200, 204), response.text
    matches: list[dict[str, Any]] = orjson.loads(response.content) if response.content else []
    return [m[tag]["Value"][0] for m in matches]


def _lowest_first(value: Any) -> tuple[bool, Any]:
    """Empty values sort lowest."""
    return (value is not None, value)


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _newest_first(studies: list[StudyRow]) -> list[str]:
    key = [(_lowest_first(s.date), _lowest_first(s.time), s.arrived, s.uid) for s in studies]
    return [s.uid for _, s in sorted(zip(key, studies, strict=True), reverse=True)]


def _by_number(rows: list[NumberedRow]) -> list[str]:
    return [r.uid for r in sorted(rows, key=lambda r: (_lowest_first(_integer(r.number)), r.uid))]


async def test_studies_come_newest_first_by_default(client: httpx.AsyncClient) -> None:
    assert await _uids(client, "/studies", "0020000D") == _newest_first(STUDIES)


async def test_series_and_instances_come_in_number_order_by_default(
    client: httpx.AsyncClient,
) -> None:
    study = STUDIES[0].uid
    of_study = [s for s in SERIES if s.study == study]
    assert await _uids(client, f"/studies/{study}/series", "0020000E") == _by_number(of_study)
    assert await _uids(client, "/series", "0020000E") == _by_number(SERIES)
    assert await _uids(client, "/instances", "00080018") == _by_number(INSTANCES)


def _study_order(keys: list[tuple[str, bool]]) -> list[str]:
    """Stable sorts from the least significant key: the UID, in the last key's direction."""
    rows = sorted(STUDIES, key=lambda s: s.uid, reverse=keys[-1][1])
    for field, descending in reversed(keys):
        rows.sort(key=lambda s: _lowest_first(getattr(s, field)), reverse=descending)
    return [s.uid for s in rows]


ORDERS = {
    "-StudyDate,-StudyTime": [("date", True), ("time", True)],
    "StudyDate": [("date", False)],
    "PatientName,-StudyDate": [("name", False), ("date", True)],
    "-00100010": [("name", True)],
    "-NumberOfStudyRelatedInstances,StudyTime": [("instances", True), ("time", False)],
    "StudyInstanceUID": [("uid", False)],
    "PatientID,-StudyDate": [("patient_id", False), ("date", True)],
    "-PatientID": [("patient_id", True)],
    "AccessionNumber": [("accession", False)],
    "-AccessionNumber,StudyTime": [("accession", True), ("time", False)],
}


@pytest.mark.parametrize("orderby", ORDERS)
async def test_orderby_orders_studies(client: httpx.AsyncClient, orderby: str) -> None:
    found = await _uids(client, "/studies", "0020000D", orderby=orderby)
    assert found == _study_order(ORDERS[orderby])


async def test_orderby_repeated_is_one_list_of_keys(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/dicom-web/studies?orderby=PatientName&orderby=-StudyDate&limit=1000"
    )
    found = [m["0020000D"]["Value"][0] for m in response.json()]
    assert found == _study_order(ORDERS["PatientName,-StudyDate"])


async def test_series_ordered_by_a_study_attribute(client: httpx.AsyncClient) -> None:
    found = await _uids(client, "/series", "0020000E", orderby="-StudyDate,SeriesNumber")
    date = {s.uid: s.date for s in STUDIES}
    rows = sorted(SERIES, key=lambda r: (_lowest_first(_integer(r.number)), r.uid))
    rows.sort(key=lambda r: _lowest_first(date[r.study]), reverse=True)
    assert found == [r.uid for r in rows]


@pytest.mark.parametrize(
    ("path", "tag", "orderby"),
    [
        ("/studies", "0020000D", None),
        ("/studies", "0020000D", "PatientName"),
        ("/studies", "0020000D", "-StudyTime"),
        ("/series", "0020000E", None),
        ("/instances", "00080018", None),
        ("/instances", "00080018", "-InstanceNumber"),
    ],
)
async def test_pages_by_offset_walk_the_unpaged_answer(
    client: httpx.AsyncClient, path: str, tag: str, orderby: str | None
) -> None:
    order = {"orderby": orderby} if orderby else {}
    whole = await _uids(client, path, tag, **order)
    walked: list[str] = []
    for offset in range(0, len(whole) + 7, 7):
        walked += await _uids(client, path, tag, limit="7", offset=str(offset), **order)
    assert walked == whole


@pytest.mark.parametrize(
    ("orderby", "reason"),
    [
        ("PatientAge", "cannot order matches"),
        ("ModalitiesInStudy", "cannot order"),
        ("SeriesNumber", "series-level attribute"),
        ("Nonsense", "not a DICOM keyword or tag"),
        ("ProcedureCodeSequence.CodeValue", "sequence path"),
    ],
)
async def test_orderby_that_cannot_order_is_a_400(
    client: httpx.AsyncClient, orderby: str, reason: str
) -> None:
    response = await client.get("/dicom-web/studies", params={"orderby": orderby})
    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    ("level", "params", "index"),
    [
        (Level.STUDY, [("limit", "101")], "study_newest_first"),
        (Level.STUDY, [("orderby", "PatientName"), ("limit", "101")], "study_patient_name_order"),
        (Level.STUDY, [("orderby", "-PatientName"), ("limit", "10")], "study_patient_name_order"),
        (Level.SERIES, [("Modality", "CT"), ("limit", "100")], "series_number_order"),
        (Level.INSTANCE, [("limit", "101")], "instance_number_order"),
        (Level.INSTANCE, [("SOPClassUID", SOP_CLASS), ("limit", "100")], "instance_number_order"),
        (Level.STUDY, [("orderby", "PatientID"), ("limit", "101")], "study_patient_id"),
        (Level.STUDY, [("orderby", "-PatientID"), ("limit", "10")], "study_patient_id"),
        (Level.STUDY, [("orderby", "AccessionNumber"), ("limit", "101")], "study_accession_number"),
        (Level.STUDY, [("orderby", "-AccessionNumber")], "study_accession_number"),
    ],
)
async def test_common_orders_read_their_index_without_sorting(
    schema_url: str, level: Level, params: list[tuple[str, str]], index: str
) -> None:
    """With sorting priced out, the plan of a page in a common order is its index in order:
    the only sort left puts the page's own rows (at most ``limit`` + 1) back in their
    position."""
    query = parse_query(level, params, max_limit=1000)
    search = sql.build_search(query, BASE_URL)
    conn = await asyncpg.connect(schema_url)
    try:
        await conn.execute("SET enable_sort = off")
        plan = "\n".join(
            r[0] for r in await conn.fetch(f"EXPLAIN {search.json_text}", *search.args)
        )
    finally:
        await conn.close()
    assert index in plan, plan
    sort_keys = [line for line in plan.splitlines() if "Sort Key:" in line]
    assert all("row_number()" in key or "page.pos" in key for key in sort_keys), plan


COUNTED = [
    ("/studies", "0020000D", {}),
    ("/studies", "0020000D", {"StudyDate": "20240101"}),
    ("/studies", "0020000D", {"StudyDate": "20231231-", "PatientName": "*A*"}),
    ("/studies", "0020000D", {"PatientName": "nobody"}),
    ("/series", "0020000E", {}),
    ("/series", "0020000E", {"StudyDate": "-20240101"}),
    ("/instances", "00080018", {}),
    ("/instances", "00080018", {"PatientName": "BRAVO"}),
    (f"/studies/{STUDIES[1].uid}/series", "0020000E", {}),
    (f"/studies/{STUDIES[1].uid}/instances", "00080018", {}),
    (f"/studies/{STUDIES[1].uid}/series/{SERIES[0].uid}/instances", "00080018", {}),
    (f"/studies/{SERIES[0].study}/series/{SERIES[0].uid}/instances", "00080018", {}),
]


@pytest.mark.parametrize(("path", "tag", "params"), COUNTED)
async def test_count_is_the_length_of_the_unpaged_answer(
    client: httpx.AsyncClient, path: str, tag: str, params: dict[str, str]
) -> None:
    whole = await _uids(client, path, tag, **params)
    response = await client.get(f"/dicom-web{path}/count", params={"limit": "1", **params})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"count": len(whole)}
    paged = await client.get(f"/dicom-web{path}", params={"limit": "2", "count": "true", **params})
    assert paged.headers["x-total-count"] == str(len(whole))


async def test_a_search_without_count_true_carries_no_total(client: httpx.AsyncClient) -> None:
    response = await client.get("/dicom-web/studies", params={"limit": "2"})
    assert "x-total-count" not in response.headers


@pytest.fixture(scope="module")
async def narrow_client(schema_url: str, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    """A QIDO that scans at most ten matches."""
    settings = Settings(
        postgres=PostgresSettings(url=schema_url),
        http=HttpSettings(public_base_url=BASE_URL),
        max_scan_rows=10,
    )
    async with serve(settings) as c:
        yield c


async def test_a_count_past_the_scan_limit_is_a_413(narrow_client: httpx.AsyncClient) -> None:
    response = await narrow_client.get("/dicom-web/studies/count")
    assert response.status_code == 413
    assert "More than 10 entities match" in response.json()["error"]
    study = STUDIES[0].uid
    within = await narrow_client.get(f"/dicom-web/studies/{study}/series/count")
    assert within.json() == {"count": len([s for s in SERIES if s.study == study])}


async def test_a_total_past_the_scan_limit_is_a_warning(narrow_client: httpx.AsyncClient) -> None:
    response = await narrow_client.get("/dicom-web/studies", params={"count": "true"})
    assert response.status_code == 200
    assert "x-total-count" not in response.headers
    assert "The total is not counted" in response.headers["warning"]


async def test_a_page_past_the_scan_limit_is_a_413(narrow_client: httpx.AsyncClient) -> None:
    last = await narrow_client.get("/dicom-web/studies", params={"limit": "5", "offset": "9"})
    assert last.status_code == 200
    response = await narrow_client.get("/dicom-web/studies", params={"offset": "10"})
    assert response.status_code == 413
    assert "A page may start at most 9 matches in" in response.json()["error"]


async def test_a_statement_past_the_timeout_is_cancelled_by_postgres_as_a_413(
    schema_url: str,
) -> None:
    settings = Settings(postgres=PostgresSettings(url=schema_url), statement_timeout=0.05)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        started = time.monotonic()
        with pytest.raises(PayloadTooLarge, match=r"ran past the 0\.05 s a search may take"):
            await handlers.fetch_bounded(app.state.ctx, "SELECT pg_sleep(5)", ())
        assert time.monotonic() - started < 4  # the server stopped it, not the sleep's end


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"StudyDate": "20240101"}, "date", "20240101"),
        ({"StudyDate": "20240101-20241231"}, "date", "20240101"),
        ({"PatientName": "alpha"}, "name", "ALPHA"),
        ({"PatientAge": "054Y"}, "age", None),  # in no stored document: only empty matches
    ],
)
async def test_emptyvaluematching_also_matches_empty_and_absent_values(
    client: httpx.AsyncClient, params: dict[str, str], field: str, value: str | None
) -> None:
    def held(s: StudyRow) -> str | None:
        return getattr(s, field, None)

    exact = await _uids(client, "/studies", "0020000D", **params)
    assert exact == [s for s in _newest_first(STUDIES) if value and _study(s, held) == value]
    found = await _uids(client, "/studies", "0020000D", emptyvaluematching="true", **params)
    expected = [s for s in _newest_first(STUDIES) if _study(s, held) in (value, None)]
    assert found == expected and len(found) > len(exact)
    response = await client.get(
        "/dicom-web/studies/count", params={"emptyvaluematching": "true", **params}
    )
    assert response.json() == {"count": len(expected)}


def _study(uid: str, held: Any) -> Any:
    return held(next(s for s in STUDIES if s.uid == uid))


async def test_a_walk_by_offset_while_studies_arrive_skips_none_that_were_there(
    client: httpx.AsyncClient, schema_url: str
) -> None:
    """New studies may shift later pages (a match seen twice), but every study there before
    the walk is found, in its order: arrivals only ever push matches further on."""
    before = await _uids(client, "/studies", "0020000D")
    conn = await asyncpg.connect(schema_url)
    pick = random.Random(1444)
    first_arrived = asyncio.Event()

    async def arrive() -> None:
        for n in range(200):
            await conn.execute(
                "INSERT INTO study (study_instance_uid, study_date, study_time, attributes)"
                " VALUES ($1, $2, $3, '{}')",
                f"{ROOT}.9.{n}", pick.choice(DATES), pick.choice(TIMES),
            )  # fmt: skip
            first_arrived.set()
            await asyncio.sleep(0)

    arrivals = asyncio.create_task(arrive())
    await first_arrived.wait()  # the rest arrive during the walk; a slow start saw none at all
    walked: list[str] = []
    try:
        for offset in itertools.count(0, 5):
            page = await _uids(client, "/studies", "0020000D", limit="5", offset=str(offset))
            walked += page
            if len(page) < 5:
                break
    finally:
        await arrivals
        await conn.execute("DELETE FROM study WHERE study_instance_uid LIKE $1", f"{ROOT}.9.%")
        await conn.close()
    assert [uid for uid in dict.fromkeys(walked) if uid in set(before)] == before
    assert len(walked) > len(before)  # the walk did see arrivals


async def test_a_search_reading_stored_documents_may_share_them_among_parallel_workers(
    schema_url: str,
) -> None:
    """An undeclared key is matched in every candidate's stored document: that statement may
    use parallel workers however small the tables, and its settings end with it."""
    query = parse_query(Level.INSTANCE, [("BitsAllocated", "16")], max_limit=1000)
    count = sql.build_count(query, 1000)
    explain = f"EXPLAIN {count.text}"
    settings = Settings(postgres=PostgresSettings(url=schema_url), document_read_workers=3)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx = app.state.ctx
        serial = await handlers.fetch_bounded(ctx, explain, count.args)
        parallel = await handlers.fetch_bounded(ctx, explain, count.args, documents=True)
        [after] = await handlers.fetch_bounded(ctx, "SHOW max_parallel_workers_per_gather", ())
    assert "Gather" not in "\n".join(r[0] for r in serial)
    assert "Gather" in "\n".join(r[0] for r in parallel)
    assert after[0] == "2"  # PostgreSQL's default: the next statement on the pool is serial
