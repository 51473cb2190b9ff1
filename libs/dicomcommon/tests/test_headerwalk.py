"""The header walk (ingest fast path) must agree with the pydicom path on every file it takes,
and leave the unusual ones to pydicom."""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomcommon.dicom import dataset, headerwalk
from dicomcommon.dicom.rawjson import Unsupported
from dicomcommon.errors import FailureReason, InvalidInstance
from tests.hostile import crafted


def _local_test_files() -> list[str]:
    """pydicom's test files and pydicom-data's, read from disk (never downloaded)."""
    folders = [Path(pydicom.__file__).parent / "data" / "test_files"]
    folders.append(Path(str(resources.files("data_store"))) / "data")  # PyPI pydicom-data
    return sorted(str(p) for folder in folders for p in folder.rglob("*.dcm"))


FILES = _local_test_files()


def _walkable(path: str) -> bool:
    try:
        headerwalk.walk(io.BytesIO(Path(path).read_bytes()), dataset.BULK_THRESHOLD)
    except (Unsupported, ValueError, headerwalk.Truncated):
        return False
    return True


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about odd test files
@pytest.mark.parametrize("path", [p for p in FILES if _walkable(p)], ids=lambda p: Path(p).name)
def test_walk_agrees_with_pydicom(path: str) -> None:
    data = Path(path).read_bytes()
    try:
        expected = dataset._read_with_pydicom(io.BytesIO(data), len(data), None, "")
    except Exception as exc:
        with pytest.raises(type(exc)):
            dataset.read_instance(io.BytesIO(data), len(data))
        return
    walked = dataset.read_instance(io.BytesIO(data), len(data))
    top_level_bulk = {k: v for k, v in walked.bulk_data.items() if "/" not in k}
    assert _values(walked.metadata) == _values(expected.metadata)
    assert top_level_bulk == expected.bulk_data
    assert [f.fragments for f in walked.frames] == [f.fragments for f in expected.frames]
    assert walked.transfer_syntax_uid == expected.transfer_syntax_uid


def _values(metadata: dict[str, Any]) -> dict[str, Any]:
    """The JSON with binary values reduced to their VR: large nested ones are BulkDataURIs on
    the walk and inline on the pydicom path (whose offsets inside items are not file offsets)."""
    out: dict[str, Any] = {}
    for key, element in metadata.items():
        if "BulkDataURI" in element or "InlineBinary" in element:
            out[key] = element["vr"]
        elif element.get("vr") == "SQ":
            out[key] = [_values(item) for item in element.get("Value", [])]
        else:
            out[key] = element
    return out


def test_nested_bulk_data_offsets_point_into_the_file() -> None:
    path = get_testdata_file("examples_overlay.dcm")
    assert path is not None
    data = Path(path).read_bytes()
    walked = dataset.read_instance(io.BytesIO(data), len(data))
    offset, length = walked.bulk_data["00880200/0/7FE00010"]
    icon = pydicom.dcmread(path).IconImageSequence[0].PixelData
    assert data[offset : offset + length] == icon


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "image_dfl.dcm"])
def test_encodings_it_does_not_walk_go_through_pydicom(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    data = Path(path).read_bytes()
    with pytest.raises(Unsupported):
        headerwalk.walk(io.BytesIO(data), dataset.BULK_THRESHOLD)
    instance = dataset.read_instance(io.BytesIO(data), len(data))
    assert instance.metadata["00080018"]["Value"] == [pydicom.dcmread(path).SOPInstanceUID]


def test_large_parts_are_walked_from_a_file(tmp_path: Path) -> None:
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    data = Path(path).read_bytes()
    with (tmp_path / "part").open("w+b") as spooled:
        spooled.write(data)
        spooled.seek(0)
        walked = dataset.read_instance(spooled, len(data))
    assert walked.metadata == dataset.read_instance(io.BytesIO(data), len(data)).metadata


@pytest.mark.parametrize("name", ["SC_ybr_full_422_uncompressed.dcm", "emri_small.dcm"])
def test_native_frames_cover_exactly_the_pixel_data(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    data = Path(path).read_bytes()
    frames = dataset.read_instance(io.BytesIO(data), len(data)).frames
    joined = b"".join(data[o : o + n] for f in frames for o, n in f.fragments)
    assert joined == pydicom.dcmread(path).PixelData


@pytest.mark.parametrize("closing", [b"", crafted.marker(crafted.ITEM_END)])
def test_file_ending_inside_an_undefined_length_sequence_is_truncated(closing: bytes) -> None:
    """pydicom reads such a file as if complete; the walk refuses it (0xC000)."""
    _, meta, elements = crafted.header()
    opening = crafted.element(crafted.SEQUENCE, b"SQ", b"", crafted.UNDEFINED)
    item = crafted.marker(crafted.ITEM, crafted.UNDEFINED) + crafted.element(
        (0x0008, 0x0100), b"SH", b"CODE01"
    )
    data = meta + elements + crafted.private_creator() + opening + item + closing
    with pytest.raises(headerwalk.Truncated):
        headerwalk.walk(io.BytesIO(data), dataset.BULK_THRESHOLD)
    with pytest.raises(InvalidInstance) as refused:
        dataset.read_instance(io.BytesIO(data), len(data))
    assert refused.value.reason == FailureReason.CANNOT_UNDERSTAND


def test_an_item_running_past_its_sequence_is_not_walked() -> None:
    """A sequence of defined length whose item claims more bytes than the sequence holds: the
    walk leaves it to the pydicom reading, which decides (found by the fuzz test)."""
    _, meta, elements = crafted.header()
    inner = crafted.element((0x0008, 0x0100), b"SH", b"CODE01")
    item = crafted.marker(crafted.ITEM, len(inner)) + inner
    sequence = crafted.element(crafted.SEQUENCE, b"SQ", item, length=1)
    data = meta + elements + crafted.private_creator() + sequence
    with pytest.raises(Unsupported):
        headerwalk.walk(io.BytesIO(data), dataset.BULK_THRESHOLD)
