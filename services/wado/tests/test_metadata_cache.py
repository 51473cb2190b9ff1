"""The metadata cache keeps recent serialized metadata under its ETag, within a byte budget."""

from __future__ import annotations

from wado.metadata_cache import MetadataCache


def test_entries_come_back_under_their_etag_only() -> None:
    cache = MetadataCache(1000)
    cache.put(("/studies/1", '"a"'), b"[1]")
    assert cache.get(("/studies/1", '"a"')) == b"[1]"
    assert cache.get(("/studies/1", '"b"')) is None  # the study changed: a new ETag


def test_least_recently_used_entries_leave_first_and_large_ones_never_enter() -> None:
    cache = MetadataCache(400)
    cache.put(("a", "1"), b"x" * 100)
    cache.put(("b", "1"), b"x" * 100)
    cache.get(("a", "1"))
    cache.put(("c", "1"), b"x" * 100)
    cache.put(("d", "1"), b"x" * 100)
    cache.put(("e", "1"), b"x" * 100)
    assert cache.get(("b", "1")) is None
    assert cache.get(("a", "1")) is not None
    cache.put(("f", "1"), b"x" * 101)  # over a quarter of the budget
    assert cache.get(("f", "1")) is None
