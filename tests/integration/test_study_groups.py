"""Study access groups against the real stack: QIDO (every level, nested or not, with right
counts and paging), WADO-RS (instances, metadata, frames, bulk data, rendered, thumbnails),
WADO-URI, the change feed (v1, v2, latest, Server-Sent Events), DELETE and STOW answer a
caller only about the studies of its groups; admins see everything; a caller without groups
sees nothing. Everything goes through the gateway of a stack that requires real bearer tokens
of its local OIDC provider (``callers``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from dicomcommon.principal import Principal
from dicomstack.stack import Stack
from tests import instances
from tests.integration import callers as who

pytestmark = pytest.mark.integration

CARDIO = who.user("cardiologist", "cardio")
NEURO = who.user("neurologist", "neuro")
BOTH = who.user("chief", "cardio", "neuro")
NO_GROUP = who.user("newcomer")
NOT_AUTHORIZED = 0x0124


@dataclass(frozen=True)
class Study:
    study: str
    series: str
    sops: tuple[str, ...]

    def path(self, level: str = "instance") -> str:
        path = f"/dicom-web/studies/{self.study}"
        if level != "study":
            path += f"/series/{self.series}"
        if level == "instance":
            path += f"/instances/{self.sops[0]}"
        return path


@dataclass(frozen=True)
class Corpus:
    a: Study  # cardio, two instances
    b: Study  # neuro
    d: Study  # cardio, deleted by the delete test
    first_sequence: int  # the feed before the corpus was stored


@pytest.fixture(scope="module")
def groups_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with who.groups_stack(tmp_path_factory.mktemp("groups-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def callers(groups_stack: Stack) -> who.Callers:
    return who.Callers(groups_stack)


def _admin(callers: who.Callers) -> httpx.Client:
    headers = {"Authorization": f"Bearer {callers.token(who.ADMIN)}"}
    return httpx.Client(base_url=callers.stack.gateway_url, headers=headers, timeout=60)


def _store(callers: who.Callers, count: int, groups: list[str]) -> Study:
    first = instances.fresh()
    datasets = [first] + [
        instances.fresh(study=first.StudyInstanceUID, series=first.SeriesInstanceUID)
        for _ in range(count - 1)
    ]
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    with _admin(callers) as admin:
        headers = {"Content-Type": instances.MULTIPART}
        assert admin.post("/dicom-web/studies", content=body, headers=headers).status_code == 200
        put = admin.put(_access_path(first.StudyInstanceUID), json={"groups": groups})
    assert put.status_code == 200, put.text
    sops = tuple(sorted(str(ds.SOPInstanceUID) for ds in datasets))
    return Study(str(first.StudyInstanceUID), str(first.SeriesInstanceUID), sops)


def _access_path(study: str) -> str:
    return f"/dicom-web/studies/{study}/access"


@pytest.fixture(scope="module")
def corpus(callers: who.Callers) -> Corpus:
    with _admin(callers) as admin:
        latest = admin.get("/dicom-web/changefeed/latest?includemetadata=false")
    first = latest.json()["sequence"] if latest.status_code == 200 else 0
    a, b = _store(callers, 2, ["cardio"]), _store(callers, 1, ["neuro"])
    return Corpus(a, b, _store(callers, 1, ["cardio"]), first)


async def _get(callers: who.Callers, caller: Principal, path: str,
               **headers: str) -> httpx.Response:  # fmt: skip
    async with callers.client(caller) as client:
        return await client.get(path, headers=headers)


async def _studies_found(callers: who.Callers, caller: Principal, path: str) -> list[str]:
    """The Study Instance UID of each QIDO match, in answer order ([] for 204)."""
    response = await _get(callers, caller, path)
    assert response.status_code in (200, 204), response.text
    return [m["0020000D"]["Value"][0] for m in response.json()] if response.content else []


# -- QIDO ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "sees"),
    [(CARDIO, "a"), (NEURO, "b"), (BOTH, "ab"), (NO_GROUP, ""), (who.ADMIN, "ab")],
    ids=["cardio", "neuro", "both", "no group", "admin"],
)
async def test_qido_finds_the_studies_of_the_callers_groups(
    callers: who.Callers, corpus: Corpus, caller: Principal, sees: str
) -> None:
    a, b = corpus.a.study, corpus.b.study
    expected = sorted({"a": a, "b": b}[k] for k in sees)
    for level in ("studies", "series"):
        found = await _studies_found(callers, caller, f"/dicom-web/{level}?{_both(corpus)}")
        assert sorted(found) == expected, level
    found = await _studies_found(callers, caller, f"/dicom-web/instances?{_both(corpus)}")
    assert sorted(found) == sorted([a, a] * ("a" in sees) + [b] * ("b" in sees))


@pytest.mark.parametrize(
    ("caller", "sees"),
    [(CARDIO, "a"), (NEURO, "b"), (NO_GROUP, ""), (who.ADMIN, "ab")],
    ids=["cardio", "neuro", "no group", "admin"],
)
async def test_qido_counts_only_the_studies_of_the_callers_groups(
    callers: who.Callers, corpus: Corpus, caller: Principal, sees: str
) -> None:
    instances = 2 * ("a" in sees) + ("b" in sees)
    for level, count in (("studies", len(sees)), ("series", len(sees)), ("instances", instances)):
        answer = await _get(callers, caller, f"/dicom-web/{level}/count?{_both(corpus)}")
        assert answer.json() == {"count": count}, level
        total = await _get(callers, caller, f"/dicom-web/{level}?{_both(corpus)}&count=true")
        assert total.headers["x-total-count"] == str(count), level


def _both(corpus: Corpus) -> str:
    return f"StudyInstanceUID={corpus.a.study},{corpus.b.study}"


async def test_qido_nested_levels_of_a_study_of_other_groups_are_empty(
    callers: who.Callers, corpus: Corpus
) -> None:
    for study, count in ((corpus.a, 2), (corpus.b, 0)):
        for path in (
            f"/dicom-web/studies/{study.study}/series",
            f"/dicom-web/studies/{study.study}/instances",
            f"{study.path('series')}/instances",
        ):
            found = await _studies_found(callers, CARDIO, path)
            assert len(found) == (count if path.endswith("instances") else min(count, 1)), path


async def test_qido_paging_and_more_results_count_visible_studies_only(
    callers: who.Callers, corpus: Corpus
) -> None:
    query = f"/dicom-web/studies?{_both(corpus)}&limit=1"
    cut = await _get(callers, BOTH, query)
    assert len(cut.json()) == 1 and "additional results" in cut.headers.get("warning", "")
    whole = await _get(callers, CARDIO, query)
    assert len(whole.json()) == 1 and "warning" not in whole.headers
    after = await _get(callers, CARDIO, f"{query}&offset=1")
    assert after.status_code == 204


# -- WADO ----------------------------------------------------------------------------------

_WADO_PATHS = {
    "study": ("{study}", "multipart/related; type=application/dicom"),
    "instance": ("{instance}", "multipart/related; type=application/dicom"),
    "study metadata": ("{study}/metadata", "application/dicom+json"),
    "series metadata": ("{series}/metadata", "application/dicom+json"),
    "instance metadata": ("{instance}/metadata", "application/dicom+json"),
    "frames": ("{instance}/frames/1", "multipart/related; type=application/octet-stream"),
    "rendered": ("{instance}/rendered", "image/jpeg"),
    "series rendered": ("{series}/rendered", "image/png"),
    "thumbnail": ("{instance}/thumbnail", "image/jpeg"),
    "study thumbnail": ("{study}/thumbnail", "image/jpeg"),
    "wado-uri": ("/wado?requestType=WADO&{uri}&contentType=application/dicom", "*/*"),
    "wado-uri jpeg": ("/wado?requestType=WADO&{uri}&contentType=image/jpeg", "*/*"),
}


def _wado_path(template: str, study: Study) -> str:
    uri = f"studyUID={study.study}&seriesUID={study.series}&objectUID={study.sops[0]}"
    return template.format(study=study.path("study"), series=study.path("series"),
                           instance=study.path(), uri=uri)  # fmt: skip


@pytest.mark.parametrize("resource", list(_WADO_PATHS))
async def test_wado_answers_a_study_of_other_groups_as_missing(
    callers: who.Callers, corpus: Corpus, resource: str
) -> None:
    template, accept = _WADO_PATHS[resource]
    for caller, study, status in (
        (CARDIO, corpus.a, 200),
        (CARDIO, corpus.b, 404),
        (NO_GROUP, corpus.a, 404),  # a rendered picture is cached by now: still refused
        (who.ADMIN, corpus.b, 200),
    ):
        response = await _get(callers, caller, _wado_path(template, study), accept=accept)
        assert response.status_code == status, (caller.subject, response.text[:200])


async def test_wado_bulk_data_of_a_study_of_other_groups_is_missing(
    callers: who.Callers, corpus: Corpus
) -> None:
    metadata = await _get(callers, who.ADMIN, f"{corpus.b.path()}/metadata")
    uri = metadata.json()[0]["7FE00010"]["BulkDataURI"]
    path = "/dicom-web/" + uri.split("/dicom-web/", 1)[1]
    octets = "application/octet-stream"
    assert (await _get(callers, NEURO, path, accept=octets)).status_code == 200
    assert (await _get(callers, CARDIO, path, accept=octets)).status_code == 404


# -- change feed ---------------------------------------------------------------------------


async def _feed_studies(callers: who.Callers, caller: Principal, corpus: Corpus) -> set[str]:
    """The studies of the entries ``caller`` reads after the corpus's first sequence."""
    studies: set[str] = set()
    offset = corpus.first_sequence
    while True:
        path = f"/dicom-web/changefeed?offset={offset}&limit=100&includemetadata=false"
        page = await _get(callers, caller, path)
        entries = page.json()
        if not entries:
            return studies
        studies |= {e["studyInstanceUid"] for e in entries}
        offset = entries[-1]["sequence"]


async def test_change_feed_pages_hold_the_entries_of_the_callers_studies(
    callers: who.Callers, corpus: Corpus
) -> None:
    a, b = corpus.a.study, corpus.b.study
    cardio = await _feed_studies(callers, CARDIO, corpus)
    assert a in cardio and b not in cardio
    neuro = await _feed_studies(callers, NEURO, corpus)
    assert b in neuro and a not in neuro
    assert {a, b} <= await _feed_studies(callers, who.ADMIN, corpus)
    assert await _feed_studies(callers, NO_GROUP, corpus) == set()
    v2 = await _get(callers, NEURO, "/dicom-web/v2/changefeed?limit=200&offset=0")
    assert a not in {e["studyInstanceUid"] for e in v2.json()}


async def test_change_feed_latest_is_the_newest_entry_the_caller_may_see(
    callers: who.Callers, corpus: Corpus
) -> None:
    for version in ("", "v2/"):
        path = f"/dicom-web/{version}changefeed/latest"
        assert (await _get(callers, NO_GROUP, path)).status_code == 204
        latest = await _get(callers, NEURO, path)
        assert latest.json()["studyInstanceUid"] not in (corpus.a.study, corpus.d.study)


async def test_change_feed_events_hold_the_entries_of_the_callers_studies(
    callers: who.Callers, corpus: Corpus
) -> None:
    """Server-Sent Events, read until the caller's study has both its entries."""
    path = f"/dicom-web/changefeed/stream?after={corpus.first_sequence}&includemetadata=false"
    events = await _events(callers, CARDIO, path, until=lambda seen: _count(seen, corpus.a) == 2)
    assert corpus.b.study not in {e["studyInstanceUid"] for e in events}


def _count(events: list[dict[str, Any]], study: Study) -> int:
    return sum(e["studyInstanceUid"] == study.study for e in events)


async def _events(callers: who.Callers, caller: Principal, path: str, until: Any,
                  seconds: float = 30) -> list[dict[str, Any]]:  # fmt: skip
    """The events of an SSE response until ``until(events)`` holds; then the client leaves."""
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async with callers.client(caller) as client, client.stream("GET", path) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.append(orjson.loads(line[6:]))
                    if until(events):
                        return

    await asyncio.wait_for(read(), seconds)
    return events


# -- DELETE --------------------------------------------------------------------------------


async def test_delete_of_a_study_of_other_groups_is_not_found(
    callers: who.Callers, corpus: Corpus
) -> None:
    async def delete(caller: Principal, path: str) -> int:
        async with callers.client(caller) as client:
            return (await client.delete(path)).status_code

    assert await delete(CARDIO, corpus.b.path("study")) == 404
    assert await delete(NO_GROUP, corpus.a.path()) == 404
    for kept in (corpus.a, corpus.b):
        assert await _studies_found(callers, who.ADMIN, f"{kept.path('study')}/instances")
    assert await delete(CARDIO, corpus.d.path("study")) == 204
    # The deletes stay in the feed of the groups the study had, and of no other.
    assert corpus.d.study in await _feed_studies(callers, CARDIO, corpus)
    assert corpus.d.study not in await _feed_studies(callers, NEURO, corpus)


# -- STOW ----------------------------------------------------------------------------------


async def _stow(callers: who.Callers, caller: Principal, *datasets: Any) -> httpx.Response:
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    async with callers.client(caller) as client:
        headers = {"Content-Type": instances.MULTIPART}
        return await client.post("/dicom-web/studies", content=body, headers=headers)


def _failure_reasons(response: httpx.Response) -> list[int]:
    failed = response.json().get("00081198", {}).get("Value", [])
    return [item["00081197"]["Value"][0] for item in failed]


@pytest.mark.parametrize(
    "uploader",
    [CARDIO, Principal(who.MODALITY_SUBJECT, permissions=who.EVERYTHING_BUT_ADMIN)],
    ids=["own groups", "groups configured for the uploader"],
)
async def test_a_new_study_gets_its_uploaders_groups(
    callers: who.Callers, uploader: Principal
) -> None:
    ds = instances.fresh()
    stored = await _stow(callers, uploader, ds)
    assert stored.status_code == 200, stored.text
    access = await _get(callers, who.ADMIN, _access_path(ds.StudyInstanceUID))
    assert access.json()["groups"] == ["cardio"]


async def test_a_store_into_a_study_of_other_groups_fails_as_not_authorized(
    callers: who.Callers, corpus: Corpus
) -> None:
    intruder = instances.fresh(study=corpus.a.study, series=corpus.a.series)
    refused = await _stow(callers, NEURO, intruder)
    assert refused.status_code == 409
    assert _failure_reasons(refused) == [NOT_AUTHORIZED]
    assert "access groups" in refused.headers["warning"]
    found = await _studies_found(callers, who.ADMIN, f"{corpus.a.path('series')}/instances")
    assert len(found) == 2


async def test_a_store_by_an_uploader_without_groups_fails_as_not_authorized(
    callers: who.Callers,
) -> None:
    refused = await _stow(callers, NO_GROUP, instances.fresh())
    assert refused.status_code == 409
    assert _failure_reasons(refused) == [NOT_AUTHORIZED]
    assert "no study access group" in refused.headers["warning"]


# -- the access API ----------------------------------------------------------------------


def test_access_api_reads_and_changes_a_studys_groups(callers: who.Callers, corpus: Corpus) -> None:
    path = _access_path(corpus.b.study)
    with _admin(callers) as admin:
        assert admin.get(path).json() == {"studyInstanceUid": corpus.b.study, "groups": ["neuro"]}
        changed = admin.put(path, json={"groups": ["neuro", "trial-7", "neuro"]})
        assert changed.json()["groups"] == ["neuro", "trial-7"]
        assert admin.get(path).json()["groups"] == ["neuro", "trial-7"]
        admin.put(path, json={"groups": ["neuro"]})


async def test_access_api_is_for_admins_only(callers: who.Callers, corpus: Corpus) -> None:
    async with callers.client(NEURO) as client:
        assert (await client.get(_access_path(corpus.b.study))).status_code == 403
        put = await client.put(_access_path(corpus.b.study), json={"groups": ["neuro"]})
        assert put.status_code == 403


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"groups": "neuro"}', b'{"groups": [""]}', b'{"groups": [1]}',
     json.dumps({"groups": ["x" * 129]}).encode()],
)  # fmt: skip
def test_access_api_refuses_a_malformed_document(
    callers: who.Callers, corpus: Corpus, body: bytes
) -> None:
    with _admin(callers) as admin:
        response = admin.put(_access_path(corpus.b.study), content=body)
        assert response.status_code == 400, response.text
        assert admin.get(_access_path(corpus.b.study)).json()["groups"] == ["neuro"]


def test_access_api_of_a_missing_study_is_not_found(callers: who.Callers) -> None:
    with _admin(callers) as admin:
        assert admin.get(_access_path("1.2.3.4.5.6.7.8.9")).status_code == 404
        assert (
            admin.put(_access_path("1.2.3.4.5.6.7.8.9"), json={"groups": ["a"]}).status_code == 404
        )
