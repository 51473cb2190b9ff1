"""The one media type ↔ transfer syntax table (PS3.18 §8.7.3), read by STOW, WADO and DIMSE."""

from __future__ import annotations

import pytest
from pydicom import uid

from dicomcommon.dicom import mediatypes


@pytest.mark.parametrize(
    ("media_type", "syntax"),
    [
        ("application/dicom", "1.2.840.10008.1.2.1"),
        ("application/octet-stream", "1.2.840.10008.1.2.1"),
        ("image/jpeg", "1.2.840.10008.1.2.4.50"),
        ("image/jls", "1.2.840.10008.1.2.4.80"),
        ("image/x-jls", "1.2.840.10008.1.2.4.80"),
        ("image/jp2", "1.2.840.10008.1.2.4.90"),
        ("image/jpx", "1.2.840.10008.1.2.4.92"),
        ("image/jphc", "1.2.840.10008.1.2.4.201"),
        ("image/dicom-rle", "1.2.840.10008.1.2.5"),
        ("image/x-dicom-rle", "1.2.840.10008.1.2.5"),
        ("video/mpeg", "1.2.840.10008.1.2.4.100"),
        ("video/mp4", "1.2.840.10008.1.2.4.102"),
    ],
)
def test_each_media_type_means_its_default_syntax(media_type: str, syntax: str) -> None:
    assert mediatypes.default_syntax(media_type) == syntax


def test_a_media_type_outside_the_table_means_no_syntax() -> None:
    assert mediatypes.default_syntax("image/png") is None


def test_every_syntax_in_the_table_is_a_transfer_syntax_its_default_belongs_to() -> None:
    for media in mediatypes.PIXEL_MEDIA_TYPES.values():
        assert media.default in media.syntaxes
        assert all(uid.UID(s).is_transfer_syntax for s in media.syntaxes), media.name


@pytest.mark.parametrize(
    ("syntax", "media_types"),
    [
        ("1.2.840.10008.1.2.4.70", ("image/jpeg",)),
        ("1.2.840.10008.1.2.4.81", ("image/jls", "image/x-jls")),
        ("1.2.840.10008.1.2.4.203", ("image/jphc",)),
        ("1.2.840.10008.1.2.5", ("image/dicom-rle", "image/x-dicom-rle")),
        ("1.2.840.10008.1.2.1", ()),  # native frames are application/octet-stream
        ("1.2.840.10008.1.2.4.100", ()),  # video is not an image
    ],
)
def test_a_stored_syntax_gives_its_frames_image_media_types(
    syntax: str, media_types: tuple[str, ...]
) -> None:
    assert mediatypes.image_media_types_of(syntax) == media_types


def test_native_little_endian_lists_explicit_vr_first() -> None:
    assert (
        uid.ExplicitVRLittleEndian,
        uid.ImplicitVRLittleEndian,
    ) == mediatypes.NATIVE_LITTLE_ENDIAN
