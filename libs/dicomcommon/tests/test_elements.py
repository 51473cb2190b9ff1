"""The element classes every reader shares (``dicomcommon.dicom.elements``), pinned to PS3.5."""

from __future__ import annotations

import io
import struct

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.uid import ExplicitVRLittleEndian

from dicomcommon.dicom import elements, pixeldata
from dicomcommon.errors import InvalidInstance


def test_pixel_data_tags_are_the_three_pixel_data_elements_with_their_implicit_vrs() -> None:
    assert {0x7FE00010, 0x7FE00008, 0x7FE00009} == elements.PIXEL_DATA_TAGS
    assert elements.PIXEL_DATA_VRS[0x7FE00008] == dictionary_VR(0x7FE00008) == "OF"
    assert elements.PIXEL_DATA_VRS[0x7FE00009] == dictionary_VR(0x7FE00009) == "OD"
    assert {"7FE00010", "7FE00008", "7FE00009"} == elements.PIXEL_DATA_KEYS


def test_binary_vrs_are_the_ones_dicom_json_carries_as_inline_binary() -> None:
    assert {"OB", "OD", "OF", "OL", "OV", "OW", "UN"} == elements.BINARY_VRS


def test_long_length_vrs_are_those_of_ps3_5_table_7_1_1() -> None:
    expected = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
    assert {vr.decode() for vr in elements.LONG_LENGTH_VRS} == expected


@pytest.mark.parametrize("vr", [b"SV", b"UV", b"UT"])
def test_frame_map_reads_a_long_length_element_after_the_pixel_data(vr: bytes) -> None:
    """The frame map's tail check once lacked SV and UV and misread their lengths."""
    value = b"\x01" * 8
    element = struct.pack("<HH2sHL", 0x7FE1, 0x1001, vr, 0, len(value)) + value
    pixeldata.require_complete_tail(io.BytesIO(element), 0, len(element), ExplicitVRLittleEndian)
    with pytest.raises(InvalidInstance):
        cut = element[:-1]
        pixeldata.require_complete_tail(io.BytesIO(cut), 0, len(cut), ExplicitVRLittleEndian)
