"""Change-feed entries: Microsoft's field names, absolute BulkDataURIs, subjects by action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from dicomcommon.adapters import changefeed
from dicomcommon.web import publicbase

ROW: dict[str, Any] = {
    "sequence": 7,
    "timestamp": datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC),
    "action": "Create",
    "study_instance_uid": "1.2.3",
    "series_instance_uid": "1.2.3.4",
    "sop_instance_uid": "1.2.3.4.5",
    "version": 99,
    "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2",
    "metadata": '{"7FE00010": {"vr": "OW", "BulkDataURI": "dicomweb-bulk:studies/1.2.3/x"}}',
}


def test_entry_has_microsoft_names_and_absolute_bulk_data_uris() -> None:
    replacement = publicbase.bulk_replacement("http://pacs.example/dicom-web")
    entry = orjson.loads(changefeed.encode(changefeed.entry(ROW, replacement, "Current")))
    assert entry == {
        "sequence": 7,
        "studyInstanceUid": "1.2.3",
        "seriesInstanceUid": "1.2.3.4",
        "sopInstanceUid": "1.2.3.4.5",
        "sopClassUid": "1.2.840.10008.5.1.4.1.1.2",
        "action": "Create",
        "timestamp": "2024-05-01T12:00:00.250000+00:00",
        "state": "Current",
        "metadata": {
            "7FE00010": {
                "vr": "OW",
                "BulkDataURI": "http://pacs.example/dicom-web/studies/1.2.3/x",
            }
        },
    }


def test_entry_without_metadata_or_state_leaves_them_out() -> None:
    entry = changefeed.entry({**ROW, "metadata": None}, b"http://x/")
    assert "metadata" not in entry and "state" not in entry
    assert "metadata" not in changefeed.entry(ROW, None)


def test_entry_from_a_row_without_sop_class_leaves_it_out() -> None:
    assert "sopClassUid" not in changefeed.entry({**ROW, "sop_class_uid": None}, None)


def test_subjects_name_the_action() -> None:
    assert changefeed.subject("dicom.feed", "Update") == "dicom.feed.update"
    assert changefeed.subject("dicom.feed", "Delete") == "dicom.feed.delete"


def test_the_notify_channel_is_the_one_the_feed_trigger_raises() -> None:
    """Migration 0003 names the channel in PL/pgSQL; ``NOTIFY_CHANNEL`` is what listeners use."""
    from dicomcommon.schema import MIGRATIONS

    trigger = (MIGRATIONS / "0003_feed_relay.sql").read_text()
    assert f"pg_notify('{changefeed.NOTIFY_CHANNEL}', '')" in trigger
