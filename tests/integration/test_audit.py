"""The audit trail against the real stack: every request on patient data through the gateway
is exactly one row of ``audit_event`` with the right fields; ``GET /audit`` filters and pages;
the table refuses changes; events in flight survive a killed indexer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydicom.uid import generate_uid

from dicomstack.stack import Stack
from tests import instances
from tests.integration import changefeed_client
from tests.polling import eventually

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Study:
    uid: str
    series: str
    sops: tuple[str, str]
    feed_before: int  # the change-feed sequence before it was stored
    store_request: str
    patient: str

    def instance(self, i: int = 0) -> str:
        return f"studies/{self.uid}/series/{self.series}/instances/{self.sops[i]}"


def _rid() -> str:
    return f"audit-test-{uuid.uuid4().hex}"


async def _rows(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def audit_rows(stack: Stack, request_id: str) -> list[asyncpg.Record]:
    sql = "SELECT * FROM audit_event WHERE request_id = $1"
    return asyncio.run(_rows(stack, sql, request_id))


def the_event(stack: Stack, request_id: str) -> asyncpg.Record:
    """The one event of a request: waits for it, then checks no second one follows."""
    assert eventually(lambda: bool(audit_rows(stack, request_id)), seconds=30), request_id
    asyncio.run(asyncio.sleep(0.3))
    rows = audit_rows(stack, request_id)
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def study(stack: Stack) -> Iterator[Study]:
    first = instances.fresh()
    second = instances.fresh(
        study=first.StudyInstanceUID, series=first.SeriesInstanceUID, patient_id=first.PatientID
    )
    before = changefeed_client.latest_sequence(stack.dicomweb_url)
    rid = _rid()
    body = instances.multipart_body([instances.to_bytes(first), instances.to_bytes(second)])
    stored = httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=body,
        headers={"Content-Type": instances.MULTIPART, "X-Request-ID": rid},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text
    sops = (str(first.SOPInstanceUID), str(second.SOPInstanceUID))
    series = str(first.SeriesInstanceUID)
    yield Study(str(first.StudyInstanceUID), series, sops, before, rid, str(first.PatientID))


def test_store_is_one_event_naming_what_was_stored(stack: Stack, study: Study) -> None:
    event = the_event(stack, study.store_request)
    assert (event["action"], event["method"], event["path"]) == (
        "store",
        "POST",
        "/dicom-web/studies",
    )
    assert (event["status"], event["outcome"], event["instance_count"]) == (200, "success", 2)
    assert event["study_uids"] == [study.uid]
    assert event["series_uids"] == [study.series]
    assert sorted(event["instance_uids"]) == sorted(study.sops)
    assert (event["service"], event["client_address"]) == ("stow", "127.0.0.1")
    assert (event["user_subject"], event["user_name"]) != ("", "")


@dataclass(frozen=True)
class Case:
    """A request, and what its audit event must say."""

    name: str
    path: Callable[[Study], str]
    action: str
    status: int = 200
    count: int | None = None
    instances: Callable[[Study], list[str]] = lambda s: []
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("search studies", lambda s: f"dicom-web/studies?StudyInstanceUID={s.uid}", "search",
         count=1),
    Case("search instances", lambda s: f"dicom-web/studies/{s.uid}/series/{s.series}/instances",
         "search", count=2, instances=lambda s: list(s.sops)),
    Case("search series by patient", lambda s: f"dicom-web/series?PatientID={s.patient}",
         "search", count=1),
    Case("search instances as XML", lambda s: f"dicom-web/instances?StudyInstanceUID={s.uid}",
         "search", count=2, instances=lambda s: list(s.sops),
         headers=(("Accept", 'multipart/related; type="application/dicom+xml"'),)),
    Case("retrieve study", lambda s: f"dicom-web/studies/{s.uid}", "retrieve", count=2,
         instances=lambda s: list(s.sops)),
    Case("retrieve metadata", lambda s: f"dicom-web/studies/{s.uid}/metadata", "retrieve"),
    Case("retrieve instance", lambda s: f"dicom-web/{s.instance()}", "retrieve", count=1,
         instances=lambda s: [s.sops[0]]),
    Case("retrieve frames", lambda s: f"dicom-web/{s.instance()}/frames/1", "retrieve", count=1,
         instances=lambda s: [s.sops[0]]),
    Case("retrieve bulk data", lambda s: f"dicom-web/{s.instance()}/bulkdata/7FE00010",
         "retrieve", count=1, instances=lambda s: [s.sops[0]]),
    Case("rendered", lambda s: f"dicom-web/{s.instance()}/rendered", "retrieve",
         instances=lambda s: [s.sops[0]]),
    Case("thumbnail", lambda s: f"dicom-web/{s.instance()}/thumbnail", "retrieve",
         instances=lambda s: [s.sops[0]]),
    Case("wado-uri", lambda s: f"wado?requestType=WADO&studyUID={s.uid}&seriesUID={s.series}"
         f"&objectUID={s.sops[0]}&contentType=application/dicom", "retrieve", count=1,
         instances=lambda s: [s.sops[0]]),
    Case("change feed", lambda s: f"dicom-web/changefeed?offset={s.feed_before}&limit=2",
         "feed-read", count=2, instances=lambda s: list(s.sops)),
    Case("audit log", lambda s: f"dicom-web/audit?study={s.uid}&limit=1", "audit-read", count=1),
    Case("unknown study", lambda s: f"dicom-web/studies/{generate_uid()}/metadata", "retrieve",
         status=404),
    Case("malformed query", lambda s: "dicom-web/studies?limit=0", "search",
         status=400),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_audited_request_is_one_event(stack: Stack, study: Study, case: Case) -> None:
    rid = _rid()
    url = f"{stack.gateway_url}/{case.path(study)}"
    answer = httpx.request(case.method, url, headers={"X-Request-ID": rid, **dict(case.headers)})
    assert answer.status_code == case.status, answer.text[:300]
    event = the_event(stack, rid)
    assert event["action"] == case.action
    assert (event["method"], event["status"]) == (case.method, case.status)
    assert event["outcome"] == ("success" if case.status < 400 else "failure")
    assert event["path"] == "/" + url.split("/", 3)[3].split("?")[0]
    assert event["query"] == (url.split("?", 1)[1] if "?" in url else "")
    assert event["client_address"] == "127.0.0.1"
    if case.status < 400 and case.action != "audit-read":
        assert study.uid in event["study_uids"]
    assert event["instance_count"] == case.count
    assert sorted(event["instance_uids"]) == sorted(case.instances(study))


def test_the_event_stream_is_one_event_when_it_opens(stack: Stack, study: Study) -> None:
    rid = _rid()
    url = f"{stack.dicomweb_url}/changefeed/stream"
    params = {"after": str(study.feed_before), "includemetadata": "false"}
    with httpx.stream("GET", url, params=params, headers={"X-Request-ID": rid}, timeout=30) as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                break
    event = the_event(stack, rid)
    assert (event["action"], event["path"]) == ("feed-read", "/dicom-web/changefeed/stream")
    assert event["query"] == f"after={study.feed_before}&includemetadata=false"
    assert event["status"] == 200


def test_delete_is_one_event_with_the_instances_deleted(stack: Stack) -> None:
    ds = instances.fresh()
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    rid = _rid()
    url = f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}"
    assert httpx.delete(url, headers={"X-Request-ID": rid}, timeout=60).status_code == 204
    event = the_event(stack, rid)
    assert (event["action"], event["method"], event["status"]) == ("delete", "DELETE", 204)
    assert (event["study_uids"], event["instance_count"]) == ([ds.StudyInstanceUID], 1)


def _audit(stack: Stack, **params: Any) -> httpx.Response:
    return httpx.get(f"{stack.dicomweb_url}/audit", params=params, timeout=30)


def test_audit_log_filters_and_pages_newest_first(stack: Stack, study: Study) -> None:
    reads = [_rid() for _ in range(3)]
    for rid in reads:
        url = f"{stack.dicomweb_url}/studies/{study.uid}/metadata"
        httpx.get(url, headers={"X-Request-ID": rid})
    for rid in reads:  # events batch on their way to the trail: wait for this test's own
        the_event(stack, rid)
    everything = _audit(stack, study=study.uid, limit=1000).json()
    times = [e["occurred_at"] for e in everything]
    assert times == sorted(times, reverse=True)
    assert all(study.uid in e["study_uids"] for e in everything)
    [stored] = _audit(stack, study=study.uid, action="store").json()
    assert stored["request_id"] == study.store_request
    first, second = (_audit(stack, study=study.uid, limit=2, offset=o).json() for o in (0, 2))
    assert [e["event_id"] for e in first + second] == [e["event_id"] for e in everything[:4]]
    user = everything[0]["user_subject"]
    assert len(_audit(stack, study=study.uid, user=user, limit=1000).json()) == len(everything)
    assert _audit(stack, study=study.uid, user="someone-else").json() == []
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _audit(stack, study=study.uid, **{"from": later}).json() == []
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    window = _audit(stack, study=study.uid, limit=1000, **{"from": earlier, "to": later}).json()
    assert len(window) >= len(everything)


@pytest.mark.parametrize(
    "params",
    [
        {"action": "peek"},
        {"limit": "0"},
        {"limit": "1001"},
        {"from": "yesterday"},
        {"offset": "-1"},
    ],
)
def test_bad_audit_parameters_are_400(stack: Stack, params: dict[str, str]) -> None:
    assert _audit(stack, **params).status_code == 400


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET user_subject = 'nobody'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
def test_the_table_refuses_changes(stack: Stack, study: Study, statement: str) -> None:
    the_event(stack, study.store_request)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        asyncio.run(_rows(stack, statement))
    assert len(audit_rows(stack, study.store_request)) == 1


async def _search_all(stack: Stack, study: Study, request_ids: list[str]) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as client:

        async def search(rid: str) -> int:
            url = f"{stack.dicomweb_url}/studies?StudyInstanceUID={study.uid}"
            return (await client.get(url, headers={"X-Request-ID": rid})).status_code

        tasks = []
        for i, rid in enumerate(request_ids):
            tasks.append(asyncio.create_task(search(rid)))
            if i == len(request_ids) // 3:
                await asyncio.to_thread(stack.kill, "indexer")
            await asyncio.sleep(0.01)
        statuses = list(await asyncio.gather(*tasks))
        await asyncio.to_thread(stack.restart, "indexer")
        return statuses


def test_no_event_is_lost_when_the_indexer_is_killed(stack: Stack, study: Study) -> None:
    request_ids = [_rid() for _ in range(60)]
    statuses = asyncio.run(_search_all(stack, study, request_ids))
    assert statuses == [200] * len(request_ids)
    sql = "SELECT request_id, count(*) AS n FROM audit_event WHERE request_id = ANY($1) GROUP BY 1"

    def counts() -> dict[str, int]:
        return {r["request_id"]: r["n"] for r in asyncio.run(_rows(stack, sql, request_ids))}

    assert eventually(lambda: len(counts()) == len(request_ids), seconds=60), len(counts())
    assert set(counts().values()) == {1}


def test_events_of_a_nats_outage_are_recorded_once_it_is_back(stack: Stack, study: Study) -> None:
    """QIDO answers from PostgreSQL while NATS is down; its events wait in the bounded queue
    and are published, each once, when NATS returns."""
    request_ids = [_rid() for _ in range(5)]
    stack.stop_component("nats")
    try:
        for rid in request_ids:
            url = f"{stack.dicomweb_url}/studies?StudyInstanceUID={study.uid}"
            assert httpx.get(url, headers={"X-Request-ID": rid}, timeout=30).status_code == 200
    finally:
        stack.start_component("nats")
    for rid in request_ids:
        assert the_event(stack, rid)["action"] == "search"
