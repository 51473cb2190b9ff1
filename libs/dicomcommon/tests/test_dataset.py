"""Reading one part: every failure is that file's (a Failure Reason), and a file cut short is
never taken for a complete one, wherever the cut falls."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from dicomcommon.dicom import dataset
from dicomcommon.errors import FailureReason, InvalidInstance

PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(path).read_bytes()


def _read(data: bytes) -> dataset.Instance:
    return dataset.read_instance(io.BytesIO(data), len(data))


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns, then reads what it can
@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("CT_small.dcm", -200),  # inside a header element's value, before the pixel data
        ("CT_small.dcm", -3),  # three bytes short of the last header element's value
        ("CT_small.dcm", 5),  # inside the pixel data element's own header
        ("MR_small.dcm", 1000),  # inside native pixel data
        ("MR_small_RLE.dcm", 1000),  # inside encapsulated pixel data
    ],
)
def test_a_file_cut_short_is_refused_as_truncated(name: str, cut: int) -> None:
    data = _file(name)
    end = data.find(PIXEL_DATA_TAG) + cut
    with pytest.raises(InvalidInstance, match="truncated") as caught:
        _read(data[:end])
    assert caught.value.reason == FailureReason.CANNOT_UNDERSTAND


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_padded.dcm"])
def test_a_file_cut_in_the_elements_after_its_pixel_data_is_refused(name: str) -> None:
    data = _file(name)
    assert _read(data).frames  # whole, it is read with its frames
    with pytest.raises(InvalidInstance, match="truncated"):
        _read(data[:-3])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_value_pydicom_cannot_convert_fails_its_file_with_a_reason() -> None:
    """badVR.dcm: Number of Frames ``1A``; the request must not become a 500."""
    with pytest.raises(InvalidInstance, match="1A") as caught:
        _read(_file("badVR.dcm"))
    assert caught.value.reason == FailureReason.CANNOT_UNDERSTAND


def test_a_uid_element_with_another_vr_is_refused() -> None:
    """A StudyInstanceUID written as US read as its first number (a valid-looking UID)."""
    import struct

    original = Path(get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
    study = struct.pack("<HH", 0x0020, 0x000D) + b"UI"
    at = original.index(study)
    damaged = original[: at + 4] + b"US" + original[at + 6 :]
    with pytest.raises(InvalidInstance, match="StudyInstanceUID is not a valid UID"):
        dataset.read_instance(io.BytesIO(damaged), len(damaged))
