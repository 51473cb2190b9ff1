"""What the change-feed tests share: store / delete through the gateway, read the feed, and
validate entries against the published JSON Schema (``docs/changefeed-entry.schema.json``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from pydicom.dataset import Dataset

from tests import instances

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "changefeed-entry.schema.json"
_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(SCHEMA_PATH.read_text()),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)

Entry = dict[str, Any]


def validate(entry: Entry) -> None:
    _VALIDATOR.validate(entry)


def store(dicomweb_url: str, ds: Dataset) -> httpx.Response:
    return instances.store(dicomweb_url, instances.to_bytes(ds))


def delete(dicomweb_url: str, ds: Dataset) -> httpx.Response:
    url = (
        f"{dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    return httpx.delete(url, timeout=60)


def latest_sequence(dicomweb_url: str) -> int:
    response = httpx.get(f"{dicomweb_url}/changefeed/latest", params={"includemetadata": "false"})
    assert response.status_code in (200, 204), response.text
    return int(response.json()["sequence"]) if response.status_code == 200 else 0


def read_after(dicomweb_url: str, after: int, limit: int = 100) -> list[Entry]:
    """Every entry after ``after``, page by page (v1); each entry checked against the schema."""
    found: list[Entry] = []
    while True:
        response = httpx.get(
            f"{dicomweb_url}/changefeed", params={"offset": after, "limit": limit}, timeout=30
        )
        assert response.status_code == 200, response.text
        page = response.json()
        for entry in page:
            validate(entry)
        if not page:
            return found
        found += page
        after = page[-1]["sequence"]


def wait_for(dicomweb_url: str, after: int, sop_uids: set[str], seconds: float = 30) -> None:
    """Until the HTTP feed holds an entry for each of ``sop_uids`` after ``after``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = {e["sopInstanceUid"] for e in read_after(dicomweb_url, after)}
        if sop_uids <= seen:
            return
        time.sleep(0.2)
    raise AssertionError(f"feed lacks {sorted(sop_uids - seen)}")
