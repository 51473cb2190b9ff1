"""The blob key format and the instance path: one home each (``storage.keys``, ``resources``)."""

from __future__ import annotations

import re
import time

import pytest

from dicomcommon.adapters.storage import keys
from dicomcommon.dicom import resources


def test_instance_path_is_the_study_series_instance_hierarchy() -> None:
    assert resources.instance_path("1.2", "1.2.3", "1.2.3.4") == (
        "studies/1.2/series/1.2.3/instances/1.2.3.4"
    )


def test_new_key_is_a_versioned_name_under_the_instance_path_that_tells_its_age() -> None:
    path = resources.instance_path("1.2", "1.2.3", "1.2.3.4")
    before = time.time()
    key = keys.new_key(path)
    assert re.fullmatch(re.escape(path) + r"/\d{13}-[0-9a-f]{32}\.dcm", key)
    assert keys.check_key(key) == key
    written = keys.written_at(key)
    assert written is not None and before - 0.001 <= written <= time.time()
    assert keys.new_key(path) != key  # a write never reuses another version's key


def test_offloaded_metadata_sits_beside_its_blob_and_ages_like_it() -> None:
    key = keys.new_key(resources.instance_path("1", "2", "3"))
    metadata = keys.metadata_key(key)
    assert metadata == key[: -len(".dcm")] + ".json"
    assert keys.written_at(metadata) == keys.written_at(key)


@pytest.mark.parametrize("foreign", ["studies/1/x.dcm", "a/123-abc.dcm", "plain"])
def test_a_foreign_key_has_no_age(foreign: str) -> None:
    assert keys.written_at(foreign) is None


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", ".hidden", "a/.tmp", "a b"])
def test_check_key_rejects_keys_that_could_escape_the_store(bad: str) -> None:
    with pytest.raises(keys.InvalidBlobKey):
        keys.check_key(bad)


def test_bulk_data_uris_are_stored_behind_the_placeholder_and_resolved_on_read() -> None:
    from dicomcommon.web import publicbase

    base = resources.bulk_data_base("1", "2", "3")
    assert base == "dicomweb-bulk:studies/1/series/2/instances/3/bulkdata/"
    stored = f'{{"7FE00010":{{"vr":"OB","BulkDataURI":"{base}7FE00010"}},'
    stored += '"00081030":{"vr":"LO","Value":["dicomweb-bulk: in a text value"]}}'
    resolved = publicbase.resolve_bulk_uris(stored.encode(), b"https://h/dicom-web/")
    assert b'"https://h/dicom-web/studies/1/series/2/instances/3/bulkdata/7FE00010"' in resolved
    # the text is never parsed: a text value holding the placeholder is rewritten too
    assert b'"https://h/dicom-web/ in a text value"' in resolved
