"""Replacing an instance (``DICOMWEB_STOW_DUPLICATE_POLICY=overwrite``) is an ``Update`` entry;
the earlier entry becomes ``Replaced`` and keeps the metadata it was stored with. Runs its own
stack, since the session stack rejects duplicates (the default policy)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dicomstack.settings import StackSettings
from dicomstack.stack import Stack
from tests import instances
from tests.integration import changefeed_client as feed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def overwriting_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    environ = {**os.environ, "DICOMWEB_STOW_DUPLICATE_POLICY": "overwrite"}
    with Stack(StackSettings.ephemeral(tmp_path_factory.mktemp("overwrite")), environ) as running:
        yield running


def test_replace_is_an_update_and_the_old_entry_is_replaced(overwriting_stack: Stack) -> None:
    url = overwriting_stack.dicomweb_url
    before = feed.latest_sequence(url)
    ds = instances.fresh()
    ds.PatientName = "First^Version"
    assert feed.store(url, ds).status_code == 200
    ds.PatientName = "Second^Version"
    assert feed.store(url, ds).status_code == 200
    entries = [e for e in feed.read_after(url, before) if e["sopInstanceUid"] == ds.SOPInstanceUID]
    assert [(e["action"], e["state"]) for e in entries] == [
        ("Create", "Replaced"),
        ("Update", "Current"),
    ]
    names = [e["metadata"]["00100010"]["Value"][0]["Alphabetic"] for e in entries]
    assert names == ["First^Version", "Second^Version"]
    assert feed.delete(url, ds).status_code == 204
    entries = [e for e in feed.read_after(url, before) if e["sopInstanceUid"] == ds.SOPInstanceUID]
    assert [e["state"] for e in entries] == ["Deleted", "Deleted", "Deleted"]
