"""JSON log lines: the time of each record, to the millisecond, in UTC, also across the
second boundaries the formatter's per-second text changes at."""

from __future__ import annotations

import logging
import time

import orjson

from dicomcommon.web.logs import JsonFormatter


def _line(formatter: JsonFormatter, created: float) -> dict[str, object]:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "stored %s", ("1.2.3",), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    record.dicom_blob_key = "a/b"
    entry: dict[str, object] = orjson.loads(formatter.format(record))
    return entry


def test_each_line_has_its_own_time_across_seconds() -> None:
    formatter = JsonFormatter("test")
    base = 1_780_000_000.0  # 2026-05-28T20:26:40Z
    for offset in (0.001, 0.999, 1.0, 1.5, 61.25, 0.5):
        created = base + offset
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        expected += f".{int((created - int(created)) * 1000):03d}Z"
        entry = _line(formatter, created)
        assert entry["time"] == expected
    assert entry["message"] == "stored 1.2.3"
    assert entry["blob_key"] == "a/b"
    assert entry["service"] == "test"
