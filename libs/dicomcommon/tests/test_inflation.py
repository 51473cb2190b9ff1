"""Deflated data sets are measured in bounded steps before pydicom inflates them whole."""

from __future__ import annotations

import io

import pytest

from dicomcommon.dicom import dataset, headerwalk, inflation
from dicomcommon.errors import FailureReason, InvalidInstance
from tests.hostile import crafted


def test_deflate_bomb_is_refused_before_it_is_inflated() -> None:
    _, data = crafted.deflate_bomb(inflation.MAX_INFLATED_BYTES + (16 << 20))
    with pytest.raises(InvalidInstance) as refused:
        dataset.read_instance(io.BytesIO(data), len(data))
    assert refused.value.reason == FailureReason.OUT_OF_RESOURCES


def test_measure_stops_just_past_the_limit() -> None:
    _, data = crafted.deflate_bomb(64 << 20)
    _, start = headerwalk.file_meta(io.BytesIO(data))
    found = inflation.measure(io.BytesIO(data), start, most=1 << 20)
    assert (1 << 20) < found.size <= (2 << 20)
    assert not found.complete


def test_deflated_stream_cut_short_is_a_truncated_file() -> None:
    _, data = crafted.deflated(cut=40)
    with pytest.raises(InvalidInstance) as refused:
        dataset.read_instance(io.BytesIO(data), len(data))
    assert refused.value.reason == FailureReason.CANNOT_UNDERSTAND


def test_deflated_instance_within_the_limit_is_read() -> None:
    ds, data = crafted.deflated()
    instance = dataset.read_instance(io.BytesIO(data), len(data))
    assert instance.sop_instance_uid == ds.SOPInstanceUID
    _, start = headerwalk.file_meta(io.BytesIO(data))
    assert inflation.measure(io.BytesIO(data), start).complete
