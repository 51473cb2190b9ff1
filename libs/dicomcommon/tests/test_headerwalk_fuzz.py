"""Differential fuzzing of what STOW reads a part with (``dataset.read_instance``: the header
walk, pydicom for the rest) against pydicom alone (hypothesis): real files from pydicom's test
data with lengths, VRs and tags overwritten, bytes changed and the file cut short. Ours gives
the same metadata as pydicom, or a clean refusal (``InvalidInstance``, which STOW reports as the
instance's failure reason); never another exception."""

from __future__ import annotations

import io
import struct
from functools import cache
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from dicomcommon.dicom import dataset
from dicomcommon.errors import InvalidInstance

# Small files of different shapes: explicit and implicit VR, sequences, encapsulated frames.
SOURCES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "examples_overlay.dcm")
LENGTHS = (0, 1, 2, 3, 0x7F, 0xFF, 0xFFFF, 0xFFFE, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 1 << 20)
VRS = (b"OB", b"OW", b"SQ", b"UN", b"UT", b"LO", b"US", b"DS", b"IS", b"PN", b"\0\0", b"zz")
TAGS = ((0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD), (0x7FE0, 0x0010), (0x0002, 0x0010),
        (0x0008, 0x0005), (0x0028, 0x0103), (0x0009, 0x0010), (0x0000, 0x0000))  # fmt: skip
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def _source(name: str) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """The file's bytes and, for each top-level element, (header offset, value offset)."""
    path = get_testdata_file(name)
    assert path is not None, name
    data = Path(path).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    spots = []
    for tag in ds.keys():  # noqa: SIM118 -- raw elements keep their offsets
        raw = ds.get_item(tag)
        tell = getattr(raw, "value_tell", None)
        if tell is not None:
            spots.append((_header_start(data, tell), tell))
    return data, tuple(spots)


def _header_start(data: bytes, value: int) -> int:
    """Explicit VR long (12 bytes), implicit or explicit short (8 bytes) element headers."""
    long_vr = data[value - 8 : value - 6]
    if value >= 12 and long_vr.isalpha() and data[value - 6 : value - 4] == b"\0\0":
        return value - 12
    return value - 8


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data, spots = _source(draw(st.sampled_from(SOURCES)))
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["length", "vr", "tag", "bytes", "cut"]))
        head, value = draw(st.sampled_from(spots))
        if kind == "length":
            length = draw(st.sampled_from(LENGTHS) | st.integers(0, 0xFFFFFFFF))
            explicit_short = value - head == 8 and bytes(out[head + 4 : head + 6]).isalpha()
            width = 2 if explicit_short else 4
            at = value - width
            out[at : at + width] = (length % (1 << (8 * width))).to_bytes(width, "little")
        elif kind == "vr" and value - head in (8, 12):
            out[head + 4 : head + 6] = draw(st.sampled_from(VRS))
        elif kind == "tag":
            out[head : head + 4] = struct.pack("<HH", *draw(st.sampled_from(TAGS)))
        elif kind == "bytes":
            at = draw(st.integers(0, len(out) - 1))
            out[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
        else:
            del out[draw(st.integers(132, len(out))) :]
    return bytes(out)


def _ours(data: bytes) -> dataset.Instance | InvalidInstance:
    try:
        return dataset.read_instance(io.BytesIO(data), len(data))
    except InvalidInstance as refusal:
        return refusal


def _pydicom(data: bytes) -> dataset.Instance | None:
    try:
        return dataset._read_with_pydicom(io.BytesIO(data), len(data), None, "")
    except Exception:
        return None


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about damaged files
@FUZZ
@given(data=_mutated())
def test_damaged_files_read_as_pydicom_reads_them_or_are_refused(data: bytes) -> None:
    ours = _ours(data)
    if isinstance(ours, InvalidInstance):
        return  # a clean refusal: the instance's failure reason
    theirs = _pydicom(data)
    assert theirs is not None, "accepted a file pydicom cannot read"
    assert _values(ours.metadata) == _values(theirs.metadata)


def _values(metadata: dict[str, object]) -> dict[str, object]:
    """The JSON with binary values reduced to their VR (as in ``test_headerwalk``)."""
    out: dict[str, object] = {}
    for key, element in metadata.items():
        assert isinstance(element, dict)
        if "BulkDataURI" in element or "InlineBinary" in element:
            out[key] = element["vr"]
        elif element.get("vr") == "SQ":
            out[key] = [_values(item) for item in element.get("Value", [])]
        else:
            out[key] = element
    return out
