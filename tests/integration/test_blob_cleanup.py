"""Blob clean-up against the real stack: deleted instances' blobs go, even when the indexer is
killed in the middle; orphans (written, never acknowledged) are swept by age; blobs in use stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from dicomcommon.adapters.storage import keys as blobkeys
from dicomstack.stack import Stack
from tests import instances
from tests.polling import eventually

pytestmark = pytest.mark.integration


def _blobs(stack: Stack, study: str) -> list[Path]:
    """The study's blob files (os.walk, unlike rglob, tolerates folders the clean-up is
    removing while we look)."""
    found = []
    for folder, _, files in os.walk(stack.storage.root / "studies" / study):
        found += [Path(folder) / name for name in files if name.endswith(".dcm")]
    return found


def _sweep(stack: Stack, older_than: float) -> int:
    indexer = stack.service_urls["indexer"][0]
    response = httpx.post(f"{indexer}/orphans/sweep", params={"older_than": older_than})
    assert response.status_code == 200, response.text
    return int(response.json()["queued"])


def test_deleted_study_blobs_are_removed_even_if_the_indexer_is_killed(stack: Stack) -> None:
    study = instances.fresh().StudyInstanceUID
    body = instances.multipart_body(
        [instances.to_bytes(instances.fresh(study=study)) for _ in range(20)]
    )
    stored = instances.store(stack.dicomweb_url, body, instances.MULTIPART)
    assert stored.status_code == 200
    assert len(_blobs(stack, study)) == 20
    assert httpx.delete(f"{stack.dicomweb_url}/studies/{study}", timeout=60).status_code == 204
    stack.kill("indexer")  # clean-up was queued in the delete's transaction
    stack.restart("indexer")
    assert eventually(lambda: not _blobs(stack, study))


def test_orphan_blob_is_swept_and_a_used_blob_stays(stack: Stack) -> None:
    ds = instances.fresh()
    data = instances.to_bytes(ds)
    stored = instances.store(stack.dicomweb_url, data)
    assert stored.status_code == 200
    [used] = _blobs(stack, ds.StudyInstanceUID)
    orphan_path = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/2.25.1"
    fresh = blobkeys.new_key(orphan_path)  # one key: two calls may fall in different ms
    written = fresh.rsplit("/", 1)[1][:13]
    two_days_ago = fresh.replace(written, f"{int((time.time() - 2 * 86400) * 1000):013d}")
    written_at = blobkeys.written_at(two_days_ago)
    assert written_at is not None and written_at < time.time() - 86400
    orphan = stack.storage.root / two_days_ago
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(data)
    assert _sweep(stack, older_than=86400) >= 1
    assert eventually(lambda: not orphan.exists())
    assert _sweep(stack, older_than=0) >= 0  # a blob in use is never an orphan, however old
    time.sleep(3)  # a clean-up round
    assert used.exists()


def test_sweep_rejects_a_bad_age(stack: Stack) -> None:
    indexer = stack.service_urls["indexer"][0]
    for bad in ("soon", "-5", "nan", "1e999", "\u0661"):
        response = httpx.post(f"{indexer}/orphans/sweep", params={"older_than": bad})
        assert response.status_code == 400
