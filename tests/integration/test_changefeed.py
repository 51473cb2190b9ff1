"""The HTTP change feed (Microsoft-compatible v1 and v2) against the real stack: entries after
store and delete with their state and metadata as of the event, no gaps, no empty pages while
later entries exist, time windows, and 400 for bad parameters."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from dicomstack.stack import Stack
from tests import instances
from tests.integration import changefeed_client as feed

pytestmark = pytest.mark.integration


def _mine(entries: list[feed.Entry], *datasets: object) -> list[feed.Entry]:
    uids = {ds.SOPInstanceUID for ds in datasets}  # type: ignore[attr-defined]
    return [e for e in entries if e["sopInstanceUid"] in uids]


def test_store_and_delete_appear_with_state_and_metadata_as_of_the_event(stack: Stack) -> None:
    url = stack.dicomweb_url
    before = feed.latest_sequence(url)
    kept = instances.fresh()
    gone = instances.fresh(study=kept.StudyInstanceUID, series=kept.SeriesInstanceUID)
    assert feed.store(url, kept).status_code == 200
    assert feed.store(url, gone).status_code == 200
    assert feed.delete(url, gone).status_code == 204
    entries = feed.read_after(url, before)
    [created] = _mine(entries, kept)
    assert (created["action"], created["state"]) == ("Create", "Current")
    assert created["studyInstanceUid"] == kept.StudyInstanceUID
    assert created["seriesInstanceUid"] == kept.SeriesInstanceUID
    metadata = created["metadata"]
    assert metadata["00100020"]["Value"] == [kept.PatientID]
    assert metadata["7FE00010"]["BulkDataURI"].startswith(f"{url}/studies/")
    assert [(e["action"], e["state"]) for e in _mine(entries, gone)] == [
        ("Create", "Deleted"),
        ("Delete", "Deleted"),
    ]
    assert "metadata" not in _mine(entries, gone)[1]
    # Every entry, deletes included, names the SOP class (filtering without metadata).
    assert {e["sopClassUid"] for e in _mine(entries, kept, gone)} == {kept.SOPClassUID}
    assert _mine(entries, gone)[0]["metadata"]["00080018"]["Value"] == [gone.SOPInstanceUID]


def test_sequences_have_no_gaps_and_pages_are_never_empty_while_more_exist(stack: Stack) -> None:
    url = stack.dicomweb_url
    before = feed.latest_sequence(url)
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(23)]
    body = instances.multipart_body([instances.to_bytes(ds) for ds in datasets])
    response = httpx.post(
        f"{url}/studies", content=body, headers={"Content-Type": instances.MULTIPART}, timeout=60
    )
    assert response.status_code == 200, response.text
    latest, after, sequences = feed.latest_sequence(url), before, []
    while after < latest:
        page = httpx.get(f"{url}/changefeed", params={"offset": after, "limit": 5}).json()
        assert page, f"empty page after {after} while {latest} exists"
        assert len(page) == min(5, latest - after)
        sequences += [e["sequence"] for e in page]
        after = page[-1]["sequence"]
    assert sequences == list(range(before + 1, latest + 1))
    assert len(_mine(feed.read_after(url, before), *datasets)) == 23


def test_default_page_is_ten_entries_with_metadata(stack: Stack) -> None:
    url = stack.dicomweb_url
    study = instances.fresh().StudyInstanceUID
    for _ in range(11):
        assert feed.store(url, instances.fresh(study=study)).status_code == 200
    page = httpx.get(f"{url}/changefeed").json()
    assert [e["sequence"] for e in page] == list(range(1, 11))
    assert all("metadata" in e for e in page if e["action"] != "Delete")
    bare = httpx.get(f"{url}/changefeed", params={"includemetadata": "false"}).json()
    assert [e["sequence"] for e in bare] == list(range(1, 11))
    assert all("metadata" not in e for e in bare)


def test_latest_is_the_newest_entry(stack: Stack) -> None:
    url = stack.dicomweb_url
    ds = instances.fresh()
    assert feed.store(url, ds).status_code == 200
    for path in ("changefeed/latest", "v2/changefeed/latest"):
        newest = httpx.get(f"{url}/{path}").json()
        feed.validate(newest)
        assert newest["sopInstanceUid"] == ds.SOPInstanceUID
        assert newest["metadata"]["00080018"]["Value"] == [ds.SOPInstanceUID]


def test_v2_selects_a_time_window_and_offset_skips_within_it(stack: Stack) -> None:
    url = stack.dicomweb_url
    early = instances.fresh()
    before_early = datetime.now(UTC)
    assert feed.store(url, early).status_code == 200
    time.sleep(0.05)
    start = datetime.now(UTC)
    study = instances.fresh().StudyInstanceUID
    late = [instances.fresh(study=study) for _ in range(3)]
    for ds in late:
        assert feed.store(url, ds).status_code == 200
    time.sleep(0.05)
    end = datetime.now(UTC)
    params = {"startTime": start.isoformat(), "endTime": end.isoformat()}
    window = httpx.get(f"{url}/v2/changefeed", params=params).json()
    assert [e["sopInstanceUid"] for e in window] == [ds.SOPInstanceUID for ds in late]
    for entry in window:
        feed.validate(entry)
    skipped = httpx.get(f"{url}/v2/changefeed", params={**params, "offset": 1, "limit": 1})
    assert [e["sopInstanceUid"] for e in skipped.json()] == [late[1].SOPInstanceUID]
    earlier = {"startTime": before_early.isoformat(), "endTime": start.isoformat()}
    before = httpx.get(f"{url}/v2/changefeed", params=earlier).json()
    assert early.SOPInstanceUID in {e["sopInstanceUid"] for e in before}
    assert not {ds.SOPInstanceUID for ds in late} & {e["sopInstanceUid"] for e in before}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("changefeed", {"limit": "0"}),
        ("changefeed", {"limit": "101"}),
        ("changefeed", {"limit": "ten"}),
        ("changefeed", {"offset": "-1"}),
        ("changefeed", {"offset": "1.5"}),
        ("changefeed", {"includemetadata": "yes"}),
        ("changefeed/latest", {"includemetadata": "1"}),
        ("v2/changefeed", {"limit": "201"}),
        ("v2/changefeed", {"offset": "-3"}),
        ("v2/changefeed", {"startTime": "yesterday"}),
        ("v2/changefeed", {"startTime": "2024-02-01", "endTime": "2024-01-01"}),
        ("v2/changefeed", {"includeMetadata": "maybe"}),
        ("changefeed/stream", {"after": "x"}),
    ],
)
def test_bad_parameters_are_400(stack: Stack, path: str, params: dict[str, str]) -> None:
    response = httpx.get(f"{stack.dicomweb_url}/{path}", params=params)
    assert response.status_code == 400, response.text


def test_v2_accepts_its_limits_and_dates(stack: Stack) -> None:
    url = stack.dicomweb_url
    for params in ({"limit": "200"}, {"startTime": "2000-01-01"}, {"includeMetadata": "False"}):
        assert httpx.get(f"{url}/v2/changefeed", params=params).status_code == 200


def test_timestamps_never_decrease_along_the_sequence_and_fall_within_the_store(
    stack: Stack,
) -> None:
    """The README's promise: ``timestamp`` is taken when the transaction takes its sequences,
    so a time window never skips an entry that a later one precedes."""
    url = stack.dicomweb_url
    latest = httpx.get(f"{url}/changefeed/latest", params={"includemetadata": "false"})
    after = latest.json()["sequence"] if latest.status_code == 200 else 0
    study = instances.fresh().StudyInstanceUID
    datasets = [instances.fresh(study=study) for _ in range(8)]
    started = datetime.now(UTC)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda ds: feed.store(url, ds).status_code, datasets))
    answered = datetime.now(UTC)
    assert statuses == [200] * len(datasets)
    params = {"offset": after, "limit": 100, "includemetadata": "false"}
    entries = httpx.get(f"{url}/changefeed", params=params).json()
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in entries]
    assert stamps == sorted(stamps)
    mine = [datetime.fromisoformat(e["timestamp"]) for e in _mine(entries, *datasets)]
    assert len(mine) == len(datasets)
    assert all(started <= stamp <= answered for stamp in mine)
