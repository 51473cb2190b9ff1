"""The chaos test's verdict, read back through the gateway: each acknowledged instance is found
by QIDO and retrieved byte for byte by WADO-RS, and the change feed is exactly the history of
those stores (one Create per instance, sequences without gaps or repeats)."""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

import httpx

from tests.chaos.load import Sent

_AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_SOP_INSTANCE_UID = "00080018"
QIDO_PAGE = 1000  # QIDO's default cap on limit


def _by_study(sent: Iterable[Sent]) -> dict[str, list[Sent]]:
    grouped: dict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        grouped[item.study].append(item)
    return grouped


def searchable(client: httpx.Client, dicomweb_url: str, study: str) -> set[str]:
    """Every SOP Instance UID QIDO finds in ``study``, page by page."""
    found: set[str] = set()
    while True:
        response = client.get(
            f"{dicomweb_url}/studies/{study}/instances",
            params={"limit": QIDO_PAGE, "offset": len(found), "includefield": _SOP_INSTANCE_UID},
        )
        if response.status_code == 204:
            return found
        assert response.status_code == 200, response.text
        page = {item[_SOP_INSTANCE_UID]["Value"][0] for item in response.json()}
        found |= page
        if len(page) < QIDO_PAGE:
            return found


def missing_from_qido(
    client: httpx.Client, dicomweb_url: str, sent: Iterable[Sent], seconds: float
) -> set[str]:
    """Acknowledged instances QIDO does not find, once those answered 202 had ``seconds`` to
    become searchable."""
    wanted = _by_study(sent)
    deadline = time.monotonic() + seconds
    while True:
        missing: set[str] = set()
        for study, items in wanted.items():
            missing |= {item.sop for item in items} - searchable(client, dicomweb_url, study)
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(1.0)


def _parts(response: httpx.Response) -> list[bytes]:
    boundary = response.headers["content-type"].split("boundary=")[1].split(";")[0].strip('"')
    body = response.content.split(f"--{boundary}--".encode())[0]
    chunks = body.split(f"--{boundary}\r\n".encode())[1:]
    return [chunk.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for chunk in chunks]


def not_retrieved_intact(client: httpx.Client, dicomweb_url: str, sent: Iterable[Sent]) -> set[str]:
    """Acknowledged instances whose bytes WADO-RS does not return as sent (series by series,
    as stored: ``transfer-syntax=*``)."""
    series: dict[tuple[str, str], list[Sent]] = defaultdict(list)
    for item in sent:
        series[item.study, item.series].append(item)
    bad: set[str] = set()
    for (study, series_uid), items in series.items():
        response = client.get(
            f"{dicomweb_url}/studies/{study}/series/{series_uid}", headers={"Accept": _AS_STORED}
        )
        assert response.status_code == 200, response.text[:300]
        digests = Counter(hashlib.sha256(part).hexdigest() for part in _parts(response))
        bad |= {item.sop for item in items if digests[item.digest] != 1}
    return bad


def feed(client: httpx.Client, dicomweb_url: str) -> list[dict[str, object]]:
    """The whole change feed (v1), page by page."""
    entries: list[dict[str, object]] = []
    after = 0
    while True:
        response = client.get(
            f"{dicomweb_url}/changefeed",
            params={"offset": after, "limit": 100, "includemetadata": "false"},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        if not page:
            return entries
        entries += page
        after = int(page[-1]["sequence"])


def feed_faults(entries: list[dict[str, object]], sent: Iterable[Sent]) -> list[str]:
    """Everything wrong with the feed of a fresh stack that only stored ``sent``."""
    faults: list[str] = []
    sequences = [int(str(e["sequence"])) for e in entries]
    if sequences != list(range(1, len(sequences) + 1)):
        faults.append(f"sequences are not 1..{len(sequences)} without gaps or repeats")
    creates = Counter(str(e["sopInstanceUid"]) for e in entries if e["action"] == "Create")
    others = [e for e in entries if e["action"] != "Create"]
    faults += [f"unexpected {e['action']} entry {e['sequence']}" for e in others]
    wanted = {item.sop for item in sent}
    faults += [f"{sop}: {creates[sop]} Create entries" for sop in wanted if creates[sop] != 1]
    unknown = creates.keys() - wanted
    faults += [f"{sop}: a Create entry for an instance never sent" for sop in unknown]
    return faults
