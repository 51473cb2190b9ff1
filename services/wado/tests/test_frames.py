"""Frame lists and how frames go out per stored syntax (PS3.18 §8.7.3.5.2, §10.4.1.1.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file

from dicomcommon.errors import DicomwebError, NotAcceptable
from wado import frames
from wado.negotiate import Choice

_OCTET = "application/octet-stream"


def test_frame_list_is_parsed_in_request_order() -> None:
    assert frames.frame_numbers("3,1,2") == [3, 1, 2]


@pytest.mark.parametrize("text", ["0", "1,,2", "a", "-1", "1;2"])
def test_malformed_frame_list_is_a_bad_request(text: str) -> None:
    with pytest.raises(DicomwebError) as raised:
        frames.frame_numbers(text)
    assert raised.value.status == 400


def test_ohif_octet_stream_with_any_syntax_gets_the_stored_jpeg_bytes() -> None:
    plan = frames.plan(uid.JPEGBaseline8Bit, [Choice(True, _OCTET, "*")], 1)
    assert (plan.media_type, plan.transfer_syntax, plan.decode) == (
        _OCTET,
        uid.JPEGBaseline8Bit,
        False,
    )


def test_wildcard_sends_compressed_frames_in_their_own_media_type() -> None:
    plan = frames.plan(uid.JPEG2000Lossless, [Choice(True, "*/*", "*")], 2)
    assert (plan.media_type, plan.decode) == ("image/jp2", False)


def test_octet_stream_by_default_decodes_compressed_frames_to_native() -> None:
    plan = frames.plan(uid.RLELossless, [Choice(True, _OCTET, uid.ExplicitVRLittleEndian)], 1)
    assert (plan.transfer_syntax, plan.decode) == (uid.ExplicitVRLittleEndian, True)


def test_native_frames_cannot_be_sent_as_jpeg() -> None:
    with pytest.raises(NotAcceptable):
        frames.plan(uid.ExplicitVRLittleEndian, [Choice(True, "image/jpeg", "*")], 1)


def test_single_part_carries_one_frame_only() -> None:
    with pytest.raises(NotAcceptable):
        frames.plan(uid.ExplicitVRLittleEndian, [Choice(False, _OCTET, "*")], 2)


@pytest.mark.parametrize("name", ["emri_small_big_endian.dcm", "emri_small_RLE.dcm"])
def test_frames_of_a_whole_blob_are_the_asked_frames_only(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    data = Path(path).read_bytes()
    whole = pydicom.dcmread(path).pixel_array
    cut = frames._frames_from_blob(data, [3, 1], decode=True)
    expected = [whole[2].astype(whole.dtype.newbyteorder("<")), whole[0]]
    assert cut == [np.ascontiguousarray(e, e.dtype.newbyteorder("<")).tobytes() for e in expected]
