"""QIDO-RS against a real PostgreSQL: the index schema, the rows the indexer writes, the app.

PostgreSQL comes from the session's ``stack`` fixture when it applies, else from
``DICOMWEB_TEST_POSTGRES_URL``, else the launcher starts its embedded one. Each session works
in a fresh schema with the schema's migrations applied. The rows inserted here stand for the
indexer's rows (same tables, same DICOM JSON shape) so the search is tested on its own.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import orjson
import pytest

from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.schema import MIGRATIONS
from dicomcommon.search import sql
from dicomcommon.search.query import parse_query
from dicomcommon.settings import AuditSettings, HttpSettings, PostgresSettings
from qido.settings import Settings

pytestmark = pytest.mark.integration
Serve = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]  # conftest

ROOT = "1.2.826.0.1.3680043.10.543"
STUDY_A, STUDY_B = f"{ROOT}.1", f"{ROOT}.2"
SERIES_A1, SERIES_A2, SERIES_B1 = f"{ROOT}.1.1", f"{ROOT}.1.2", f"{ROOT}.2.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.11"
MR = "1.2.840.10008.5.1.4.1.1.4"
BASE_URL = "http://qido.test/dicom-web"
INSTANCE_SUMMARY_TAGS = {"00080016", "00200013", "00280010", "00280011"}
CORPUS_SCHEMA = "0010"  # the first migration after the schema the corpus is written in


def _name(path: Any) -> str:
    return str(path.name)


def _e(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


@pytest.fixture(scope="session")
async def schema_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh schema holding the schema's migrations; dropped after the session."""
    schema = f"qido_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}, public")
    migrations = MIGRATIONS
    scripts = sorted((p for p in migrations.iterdir() if p.name.endswith(".sql")), key=_name)
    # The corpus goes in as indexers wrote rows up to 0009; the later migrations carry it on.
    for script in scripts:
        if script.name >= CORPUS_SCHEMA:
            break
        await conn.execute(script.read_text())
    await _insert_corpus(conn)
    for script in scripts:
        if script.name >= CORPUS_SCHEMA:
            await conn.execute(script.read_text())
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}search_path={quote(schema + ',public')}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


@pytest.fixture(scope="session")
async def client(schema_url: str, serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        postgres=PostgresSettings(url=schema_url),
        http=HttpSettings(public_base_url=BASE_URL),
        audit=AuditSettings(enabled=False),  # searched in-process: no NATS to publish to
        max_limit=50,
    )
    async with serve(settings) as c:
        yield c


async def _insert_corpus(conn: asyncpg.Connection) -> None:
    """Two studies as the indexer writes them: A (CT + SR, 3 instances), B (MR, 1)."""
    study = (
        "INSERT INTO study (study_instance_uid, patient_id, patient_name, patient_birth_date,"
        " patient_sex, study_date, study_time, accession_number, referring_physician_name,"
        " study_id, study_description, attributes, modalities_in_study, sop_classes_in_study,"
        " number_of_series, number_of_instances)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::text::jsonb,$13,$14,$15,$16)"
    )
    await conn.execute(study, *_study(STUDY_A, "Doe^John", "PID-A", "20240115", "101500",
                                      "CT chest", ["CT", "SR"], [CT, SR], 2, 3))  # fmt: skip
    await conn.execute(study, *_study(STUDY_B, "Smith^Jane^Q", "PID-B", "20231201", "083000",
                                      "MR head", ["MR"], [MR], 1, 1))  # fmt: skip
    series = (
        "INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number,"
        " series_description, attributes, number_of_instances)"
        " VALUES ($1,$2,$3,$4,$5,$6::text::jsonb,$7)"
    )
    for uid, study_uid, modality, number, count in (
        (SERIES_A1, STUDY_A, "CT", "1", 2),
        (SERIES_A2, STUDY_A, "SR", "2", 1),
        (SERIES_B1, STUDY_B, "MR", "1", 1),
    ):
        attributes = {
            "00080060": _e("CS", modality),
            "00200011": _e("IS", int(number)),
            "0008103E": _e("LO", f"{modality} series"),
            "0020000E": _e("UI", uid),
        }
        await conn.execute(series, uid, study_uid, modality, number, f"{modality} series",
                           orjson.dumps(attributes).decode(), count)  # fmt: skip
    for sop, series_uid, study_uid, sop_class, instance_number in (
        (f"{SERIES_A1}.1", SERIES_A1, STUDY_A, CT, 1),
        (f"{SERIES_A1}.2", SERIES_A1, STUDY_A, CT, 2),
        (f"{SERIES_A2}.1", SERIES_A2, STUDY_A, SR, 1),
        (f"{SERIES_B1}.1", SERIES_B1, STUDY_B, MR, 1),
    ):
        await _insert_instance(conn, sop, series_uid, study_uid, sop_class, instance_number)


def _study(uid: str, name: str, pid: str, date: str, time: str, description: str,
           modalities: list[str], sop_classes: list[str], n_series: int,
           n_instances: int) -> tuple[Any, ...]:  # fmt: skip
    attributes = {
        "00080005": _e("CS", "ISO_IR 192"),
        "00080020": _e("DA", date),
        "00080030": _e("TM", time),
        "00080050": _e("SH", f"ACC-{pid}"),
        "00080090": _e("PN", {"Alphabetic": "Ref^Doctor"}),
        "00081030": _e("LO", description),
        "00081032": _e("SQ", {"00080100": _e("SH", f"CODE-{pid}"), "00080102": _e("SH", "L")}),
        "00100010": _e("PN", {"Alphabetic": name}),
        "00100020": _e("LO", pid),
        "00100030": _e("DA", "19700101"),
        "00100040": _e("CS", "O"),
        "00101010": _e("AS", "054Y"),
        "0020000D": _e("UI", uid),
        "00200010": _e("SH", "1"),
    }
    return (uid, pid, name, "19700101", "O", date, time, f"ACC-{pid}", "Ref^Doctor", "1",
            description, orjson.dumps(attributes).decode(), modalities, sop_classes,
            n_series, n_instances)  # fmt: skip


async def _insert_instance(conn: asyncpg.Connection, sop: str, series_uid: str,
                           study_uid: str, sop_class: str, number: int) -> None:  # fmt: skip
    rows = 512 if sop_class != SR else None
    metadata = {
        "00080016": _e("UI", sop_class),
        "00080018": _e("UI", sop),
        "0020000D": _e("UI", study_uid),
        "0020000E": _e("UI", series_uid),
        "00200013": _e("IS", number),
        "00180050": _e("DS", 1.25),
        **({"00280010": _e("US", rows), "00280011": _e("US", rows)} if rows else {}),
    }
    # Series A1 as indexers wrote rows with ``instance.attributes`` (0009); the others as
    # rows indexed before it (NULL there). Migration 0010 fills ``summary`` from either.
    summary = {k: v for k, v in metadata.items() if k in INSTANCE_SUMMARY_TAGS}
    attributes = orjson.dumps(summary).decode() if series_uid == SERIES_A1 else None
    await conn.execute(
        "INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,"
        " sop_class_uid, instance_number, transfer_syntax_uid, rows, columns, blob_key, size,"
        " sha256, metadata, version, attributes) VALUES ($1,$2,$3,$4,$5,"
        " '1.2.840.10008.1.2.1',$6,$6,$1,1,'0',$7::text::jsonb,1,$8::text::jsonb)",
        sop, series_uid, study_uid, sop_class, str(number), rows,
        orjson.dumps(metadata).decode(), attributes,
    )  # fmt: skip


async def _search(client: httpx.AsyncClient, path: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(f"/dicom-web{path}", params=params)
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/dicom+json"
    result: list[dict[str, Any]] = response.json()
    return result


def _values(matches: list[dict[str, Any]], tag: str) -> list[Any]:
    return [m[tag]["Value"][0] for m in matches]


async def test_studies_return_the_required_attributes(client: httpx.AsyncClient) -> None:
    [study] = await _search(client, "/studies", PatientID="PID-A")
    assert study["0020000D"]["Value"] == [STUDY_A]
    assert study["00100010"]["Value"] == [{"Alphabetic": "Doe^John"}]
    assert study["00080061"]["Value"] == ["CT", "SR"]
    assert study["00201206"]["Value"] == [2]
    assert study["00201208"]["Value"] == [3]
    assert study["00080056"]["Value"] == ["ONLINE"]
    assert study["00081190"]["Value"] == [f"{BASE_URL}/studies/{STUDY_A}"]
    assert "00101010" not in study  # PatientAge is neither required nor asked for


async def test_no_match_answers_204_no_content(client: httpx.AsyncClient) -> None:
    response = await client.get("/dicom-web/studies", params={"PatientID": "nobody"})
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PatientName": "doe*"}, [STUDY_A]),
        ({"PatientName": "SMITH^JANE^Q"}, [STUDY_B]),
        ({"PatientName": "jane"}, []),
        ({"PatientName": "jan", "fuzzymatching": "true"}, [STUDY_B]),
        ({"PatientName": "jo do", "fuzzymatching": "true"}, [STUDY_A]),
        ({"StudyDate": "20240101-"}, [STUDY_A]),
        ({"StudyDate": "-20231231"}, [STUDY_B]),
        ({"StudyDate": "20231201-20240115"}, [STUDY_A, STUDY_B]),
        ({"StudyDate": "20231201"}, [STUDY_B]),
        ({"StudyTime": "08-09"}, [STUDY_B]),
        ({"ModalitiesInStudy": "MR"}, [STUDY_B]),
        ({"ModalitiesInStudy": "CT,MR"}, [STUDY_A, STUDY_B]),
        ({"StudyInstanceUID": f"{STUDY_A},{STUDY_B}"}, [STUDY_A, STUDY_B]),
        ({"StudyInstanceUID": f"{STUDY_B}\\9.9"}, [STUDY_B]),
        ({"StudyDescription": "CT*"}, [STUDY_A]),
        ({"StudyDescription": "ct*"}, []),
        ({"00081032.00080100": "CODE-PID-B"}, [STUDY_B]),
        ({"ProcedureCodeSequence.CodeValue": "CODE-*"}, [STUDY_A, STUDY_B]),
        ({"PatientAge": "054Y"}, [STUDY_A, STUDY_B]),
        ({"00100020": "PID-?"}, [STUDY_A, STUDY_B]),
        ({"PatientID": "PID-A", "StudyDate": "-20231231"}, []),
    ],
)
async def test_study_matching(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert _values(await _search(client, "/studies", **params), "0020000D") == expected


async def test_series_of_a_study(client: httpx.AsyncClient) -> None:
    series = await _search(client, f"/studies/{STUDY_A}/series")
    assert _values(series, "0020000E") == [SERIES_A1, SERIES_A2]
    assert _values(series, "00080060") == ["CT", "SR"]
    assert _values(series, "00201209") == [2, 1]
    assert series[0]["00081190"]["Value"] == [f"{BASE_URL}/studies/{STUDY_A}/series/{SERIES_A1}"]
    assert "00100010" not in series[0]  # the study is named by the path


async def test_relational_series_search_returns_study_attributes(
    client: httpx.AsyncClient,
) -> None:
    [series] = await _search(client, "/series", PatientID="PID-B", Modality="MR")
    assert series["00100010"]["Value"] == [{"Alphabetic": "Smith^Jane^Q"}]
    assert series["0020000D"]["Value"] == [STUDY_B]
    assert series["00201209"]["Value"] == [1]


async def test_instances_of_a_series(client: httpx.AsyncClient) -> None:
    instances = await _search(client, f"/studies/{STUDY_A}/series/{SERIES_A1}/instances")
    assert _values(instances, "00080018") == [f"{SERIES_A1}.1", f"{SERIES_A1}.2"]
    assert _values(instances, "00280010") == [512, 512]
    assert _values(instances, "00080016") == [CT, CT]
    assert "00180050" not in instances[0]
    url = f"{BASE_URL}/studies/{STUDY_A}/series/{SERIES_A1}/instances/{SERIES_A1}.1"
    assert instances[0]["00081190"]["Value"] == [url]


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/instances", {"Rows": "512", "PatientID": "PID-A"}, 2),
        ("/instances", {"SliceThickness": "1.25"}, 4),
        ("/instances", {"InstanceNumber": "2"}, 1),
        (f"/studies/{STUDY_A}/instances", {"SOPClassUID": SR}, 1),
        (f"/studies/{STUDY_A}/instances", {"Modality": "CT"}, 2),
    ],
)
async def test_instance_matching(
    client: httpx.AsyncClient, path: str, params: dict[str, str], expected: int
) -> None:
    assert len(await _search(client, path, **params)) == expected


async def test_instance_includefield_beyond_the_summary_reads_the_metadata(
    client: httpx.AsyncClient,
) -> None:
    instances = await _search(
        client, f"/studies/{STUDY_A}/series/{SERIES_A1}/instances", includefield="SliceThickness"
    )
    assert _values(instances, "00180050") == [1.25, 1.25]
    assert _values(instances, "00280010") == [512, 512]


async def test_includefield_all_returns_the_stored_metadata(client: httpx.AsyncClient) -> None:
    [instance] = await _search(
        client, f"/studies/{STUDY_B}/series/{SERIES_B1}/instances", includefield="all"
    )
    assert instance["00180050"]["Value"] == [1.25]


async def test_includefield_by_keyword_and_tag(client: httpx.AsyncClient) -> None:
    [study] = await _search(
        client, "/studies", PatientID="PID-A", includefield="PatientAge,00081032"
    )
    assert study["00101010"]["Value"] == ["054Y"]
    assert study["00081032"]["vr"] == "SQ"


async def test_pages_neither_repeat_nor_skip_and_a_cut_result_warns(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/dicom-web/instances", params={"limit": "3"})
    rest = await client.get("/dicom-web/instances", params={"limit": "3", "offset": "3"})
    assert first.headers["warning"].startswith(f"299 {BASE_URL}: There are additional")
    assert "warning" not in rest.headers
    uids = [m["00080018"]["Value"][0] for m in [*first.json(), *rest.json()]]
    # By InstanceNumber, then SOP Instance UID: every instance once.
    assert uids == [f"{SERIES_A1}.1", f"{SERIES_A2}.1", f"{SERIES_B1}.1", f"{SERIES_A1}.2"]


async def test_multipart_xml_has_one_native_model_part_per_match(
    client: httpx.AsyncClient,
) -> None:
    accept = 'multipart/related; type="application/dicom+xml"'
    response = await client.get("/dicom-web/studies", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    assert response.content.count(b"Content-Type: application/dicom+xml") == 2
    assert b'<DicomAttribute tag="00100010" vr="PN" keyword="PatientName">' in response.content


async def test_unsupported_accept_is_406(client: httpx.AsyncClient) -> None:
    response = await client.get("/dicom-web/studies", headers={"Accept": "image/png"})
    assert response.status_code == 406


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "-1"}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"StudyDate": "2024-01-01"}, "StudyDate"),
        ({"StudyDate": "20240201-20240101"}, "StudyDate"),
        ({"includefield": "NoSuchKeyword"}, "includefield"),
        ({"0010001": "x"}, "0010001"),
        ({"fuzzymatching": "maybe"}, "fuzzymatching"),
        ({"SOPInstanceUID": "1.2"}, "SOPInstanceUID"),
        ({"StudyInstanceUID": "1.2.x"}, "StudyInstanceUID"),
        ({"StudyDate": "20240230"}, "StudyDate"),
        ({"TimezoneOffsetFromUTC": "0100"}, "TimezoneOffsetFromUTC"),
    ],
)
async def test_bad_query_is_400_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str], named: str
) -> None:
    response = await client.get("/dicom-web/studies", params=params)
    assert response.status_code == 400
    assert named in response.json()["error"]


STUDY_TZ = f"{ROOT}.3"


@pytest.fixture
async def late_evening_study(schema_url: str) -> AsyncIterator[None]:
    """A study of 1 March 2024, 23:30 at UTC+0000 (kept out of the shared corpus, whose other
    tests count studies), and a series of it started at the same moment."""
    conn = await asyncpg.connect(schema_url)
    row = list(_study(STUDY_TZ, "Late^Evening", "PID-TZ", "20240301", "233000.25", "late",
                      ["CT"], [CT], 1, 0))  # fmt: skip
    attributes = orjson.loads(row[11]) | {"00080201": _e("SH", "+0000")}
    row[11] = orjson.dumps(attributes).decode()
    await conn.execute(
        "INSERT INTO study (study_instance_uid, patient_id, patient_name, patient_birth_date,"
        " patient_sex, study_date, study_time, accession_number, referring_physician_name,"
        " study_id, study_description, attributes, modalities_in_study, sop_classes_in_study,"
        " number_of_series, number_of_instances)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::text::jsonb,$13,$14,$15,$16)",
        *row,
    )
    await conn.execute(
        "INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number,"
        " performed_procedure_step_start_date, performed_procedure_step_start_time,"
        " attributes, number_of_instances) VALUES ($1, $2, 'CT', '1', '20240301', '2330',"
        " $3::text::jsonb, 0)",
        f"{STUDY_TZ}.1", STUDY_TZ, orjson.dumps({"00080201": _e("SH", "+0000")}).decode(),
    )  # fmt: skip
    # Both acquired at 23:30 UTC: one in its instance's offset, one in its own value's.
    for number, acquired, offset in ((1, "20240301233000.25", "+0000"),
                                     (2, "20240302003000+0100", None)):  # fmt: skip
        metadata = {
            "0008002A": _e("DT", acquired),
            **({"00080201": _e("SH", offset)} if offset else {}),
        }
        await conn.execute(
            "INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid,"
            " sop_class_uid, instance_number, transfer_syntax_uid, blob_key, size, sha256,"
            " metadata, version, summary) VALUES ($1, $2, $3, $4, $5, '1.2.840.10008.1.2.1',"
            " $1, 1, '0', $6::text::jsonb, 1, '')",
            f"{STUDY_TZ}.1.{number}", f"{STUDY_TZ}.1", STUDY_TZ, CT, str(number),
            orjson.dumps(metadata).decode(),
        )  # fmt: skip
    try:
        yield
    finally:
        await conn.execute("DELETE FROM study WHERE study_instance_uid = $1", STUDY_TZ)
        await conn.close()


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"StudyDate": "20240302"}, False),  # no query timezone: the date as stored
        ({"StudyDate": "20240301"}, True),
        ({"TimezoneOffsetFromUTC": "+0100", "StudyDate": "20240302"}, True),  # 00:30 there
        ({"TimezoneOffsetFromUTC": "+0100", "StudyDate": "20240301"}, False),
        ({"TimezoneOffsetFromUTC": "+0100", "StudyDate": "20240228-20240302"}, True),
        ({"TimezoneOffsetFromUTC": "+0100", "StudyDate": "-20240301"}, False),
        ({"TimezoneOffsetFromUTC": "-0500", "StudyDate": "20240301"}, True),  # 18:30 there
        ({"TimezoneOffsetFromUTC": "+0100", "StudyTime": "0000-0100"}, True),
        ({"TimezoneOffsetFromUTC": "+0100", "StudyTime": "2300-2359"}, False),
        ({"TimezoneOffsetFromUTC": "-0500", "StudyTime": "1830"}, False),  # it is 183000.25
        ({"TimezoneOffsetFromUTC": "-0500", "StudyTime": "183000.25"}, True),
        ({"TimezoneOffsetFromUTC": "-0500", "StudyTime": "18-"}, True),
        ({"TimezoneOffsetFromUTC": "+0900"}, True),  # only a timezone: nothing to match
    ],
)
async def test_dates_and_times_move_into_the_query_timezone(
    client: httpx.AsyncClient, late_evening_study: None, params: dict[str, str], found: bool
) -> None:
    matches = await _search(client, "/studies", PatientID="PID-TZ", **params)
    assert _values(matches, "0020000D") == ([STUDY_TZ] if found else [])
    if found:
        assert matches[0]["00080201"]["Value"] == ["+0000"]  # returned, not matched


async def test_series_start_moves_into_the_query_timezone(
    client: httpx.AsyncClient, late_evening_study: None
) -> None:
    params = {"TimezoneOffsetFromUTC": "+0530", "PerformedProcedureStepStartDate": "20240302"}
    matches = await _search(client, f"/studies/{STUDY_TZ}/series", **params)
    assert _values(matches, "0020000E") == [f"{STUDY_TZ}.1"]
    params["PerformedProcedureStepStartTime"] = "0500"  # 23:30 + 5:30, to the stored precision
    assert len(await _search(client, f"/studies/{STUDY_TZ}/series", **params)) == 1
    params["PerformedProcedureStepStartTime"] = "2330"
    assert await _search(client, f"/studies/{STUDY_TZ}/series", **params) == []


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"AcquisitionDateTime": "20240301233000-20240301233059"}, [1, 2]),
        ({"AcquisitionDateTime": "20240302-"}, []),  # 2 is not 2 March UTC, whatever its text
        ({"AcquisitionDateTime": "20240302-", "TimezoneOffsetFromUTC": "+0100"}, [1, 2]),
        ({"AcquisitionDateTime": "-20240301232959"}, []),
        ({"AcquisitionDateTime": "2024"}, [1, 2]),  # all of 2024
        ({"AcquisitionDateTime": "20240301233000.25"}, [1]),
        ({"AcquisitionDateTime": "20240302003000+0100"}, [1, 2]),  # that whole second
    ],
)
async def test_datetimes_match_as_moments(
    client: httpx.AsyncClient, late_evening_study: None, params: dict[str, str], found: list[int]
) -> None:
    matches = await _search(client, f"/studies/{STUDY_TZ}/instances", **params)
    assert _values(matches, "00080018") == [f"{STUDY_TZ}.1.{n}" for n in found]


async def test_a_study_without_an_offset_matches_as_stored(client: httpx.AsyncClient) -> None:
    params = {"TimezoneOffsetFromUTC": "+1000", "StudyDate": "20240115", "StudyTime": "1015-1016"}
    assert _values(await _search(client, "/studies", **params), "0020000D") == [STUDY_A]


async def test_ready_when_postgres_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/readyz")).status_code == 200


# The benchmark's query mix (issue 4): each must have an index-backed plan.
BENCH_QUERIES = [
    (Level.STUDY, None, None, {"PatientID": "PID-A"}),
    (Level.STUDY, None, None, {"AccessionNumber": "ACC-A"}),
    (Level.STUDY, None, None, {"StudyDate": "20230101"}),
    (Level.STUDY, None, None, {"PatientName": "smi*"}),
    (Level.STUDY, None, None, {"StudyDate": "20230101-20231231"}),
    (Level.STUDY, None, None, {"ModalitiesInStudy": "MR"}),
    (Level.STUDY, None, None, {"limit": "100", "offset": "1"}),
    (Level.STUDY, None, None, {"PatientID": "PID-B", "includefield": "all"}),
    (Level.STUDY, None, None, {"PatientName": "jan", "fuzzymatching": "true"}),
    (Level.STUDY, None, None, {"00081032.00080100": "CODE-PID-B"}),
    (Level.SERIES, STUDY_A, None, {}),
    (Level.SERIES, None, None, {"Modality": "CT"}),
    (Level.INSTANCE, STUDY_A, SERIES_A1, {}),
    # As ``make bench --qido-scale`` sends them: a study list asks for pages of 100.
    (Level.STUDY, None, None, {"PatientName": "smi*", "limit": "100"}),
    (Level.STUDY, None, None, {"StudyDate": "20230101-20230131", "limit": "100"}),
    (Level.STUDY, None, None, {"ModalitiesInStudy": "MR", "limit": "100"}),
    (Level.STUDY, None, None, {"PatientName": "smith", "fuzzymatching": "true", "limit": "100"}),
    (Level.STUDY, None, None, {"limit": "100", "offset": "40000"}),
    (Level.SERIES, None, None, {"Modality": "CT", "limit": "100"}),
]


def _relations_scanned_sequentially(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan["Node Type"] == "Seq Scan" else []
    for child in plan.get("Plans", ()):
        found += _relations_scanned_sequentially(child)
    return found


@pytest.mark.parametrize(("level", "study", "series", "params"), BENCH_QUERIES)
async def test_benchmark_queries_are_index_backed(
    schema_url: str, level: Level, study: str | None, series: str | None, params: dict[str, str]
) -> None:
    """With sequential scans priced out, the planner still finds an index path: the query
    needs no full scan of study, series or instance at any scale."""
    query = parse_query(level, params.items(), max_limit=1000, study_instance_uid=study,
                        series_instance_uid=series)  # fmt: skip
    search = sql.build_search(query, "http://archive.example/dicom-web")
    pool = await db.create_pool(PostgresSettings(url=schema_url))
    try:
        async with db.connection(pool) as conn, conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            explained = await conn.fetchval(
                f"EXPLAIN (FORMAT JSON) {search.json_text}", *search.args
            )
    finally:
        await pool.close()
    [plan] = orjson.loads(explained)
    assert _relations_scanned_sequentially(plan["Plan"]) == []


@pytest.mark.parametrize(
    ("level", "params", "expected"),
    [
        (Level.STUDY, {"PatientID": "PID-A", "includefield": "StudyDescription"},
         {"0020000D", "00100020", "00081030"}),
        (Level.STUDY, {"includefield": "NumberOfStudyRelatedInstances"}, {"0020000D", "00201208"}),
        (Level.SERIES, {"Modality": "CT"}, {"0020000D", "0020000E", "00080060"}),
        (Level.INSTANCE, {"SeriesInstanceUID": SERIES_A1},
         {"0020000D", "0020000E", "00080018"}),
    ],
)  # fmt: skip
async def test_a_search_of_its_requested_keys_only_answers_those_and_the_uids(
    schema_url: str, level: Level, params: dict[str, str], expected: set[str]
) -> None:
    """What C-FIND asks (``requested_only``): no attribute QIDO requires of every match."""
    parsed = parse_query(level, params.items(), max_limit=100)
    search = sql.build_search(dataclasses.replace(parsed, requested_only=True), BASE_URL)
    pool = await db.create_pool(PostgresSettings(url=schema_url))
    try:
        rows = await db.fetch(pool, search.text, *search.args)
    finally:
        await pool.close()
    assert rows
    assert {key for row in rows for key in orjson.loads(row["match"])} == expected
