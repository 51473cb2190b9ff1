"""How a multipart retrieve groups instances into storage reads (``retrieve.batches``)."""

from __future__ import annotations

from wado.index import StoredInstance
from wado.negotiate import AS_STORED
from wado.retrieve import BATCH_BYTES, BATCH_INSTANCES, SMALL_BLOB_BYTES, Planned, batches

STORED_SYNTAX = "1.2.840.10008.1.2.1"


def planned(size: int, syntax: str = AS_STORED) -> Planned:
    instance = StoredInstance(
        "1.2", "1.2.3", "1.2.3.4", "1.2.840.10008.5.1.4.1.1.2", STORED_SYNTAX,
        "key.dcm", size, None, 512, 1,
    )  # fmt: skip
    return Planned(instance, syntax)


def spans(items: list[Planned]) -> list[tuple[int, int]]:
    return [(batch.start, batch.stop) for batch in batches(items)]


def test_small_stored_instances_are_read_together_up_to_the_count_limit() -> None:
    items = [planned(40_000) for _ in range(BATCH_INSTANCES + 5)]
    assert spans(items) == [(0, BATCH_INSTANCES), (BATCH_INSTANCES, BATCH_INSTANCES + 5)]


def test_a_batch_stops_before_it_passes_the_byte_limit() -> None:
    size = BATCH_BYTES // 5  # small enough to read whole; five fill a batch
    assert size <= SMALL_BLOB_BYTES
    assert spans([planned(size) for _ in range(11)]) == [(0, 5), (5, 10), (10, 11)]


def test_large_and_transcoded_instances_stand_alone() -> None:
    items = [
        planned(1000),
        planned(1000),
        planned(SMALL_BLOB_BYTES + 1),
        planned(1000),
        planned(1000, "1.2.840.10008.1.2.4.50"),
        planned(1000),
        planned(1000),
    ]
    assert spans(items) == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 7)]


def test_nothing_planned_is_no_batch() -> None:
    assert batches([]) == []
