"""Media types and the transfer syntaxes they carry (PS3.18 §8.7.3, Tables 8.7.3-2 to -5).

One table serves every direction: STOW reads the transfer syntax a bulk-data part's media type
means, WADO reads the default syntax of an Accept media type and the media types a stored
instance's frames have, DIMSE and WADO read the native syntaxes. ``image/x-jls`` and
``image/x-dicom-rle`` are the standard's retired names, still read and offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydicom import uid

DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
EXPLICIT_VR_LITTLE_ENDIAN = str(uid.ExplicitVRLittleEndian)
# The uncompressed little-endian syntaxes every DICOM peer reads; Explicit VR first, the default.
NATIVE_LITTLE_ENDIAN = (EXPLICIT_VR_LITTLE_ENDIAN, str(uid.ImplicitVRLittleEndian))

_JPEG = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
         "1.2.840.10008.1.2.4.70")  # fmt: skip
_JPEG_LS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
_JPEG_2000 = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")
_JPEG_2000_PART_2 = ("1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93")
_HTJ2K = ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")
_RLE = ("1.2.840.10008.1.2.5",)
_MPEG2 = ("1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101")
_MP4 = tuple(f"1.2.840.10008.1.2.4.{n}" for n in range(102, 109))


@dataclass(frozen=True)
class PixelMediaType:
    """A media type of pixel data: the syntax it means with no ``transfer-syntax`` parameter,
    and every syntax whose frames have this media type."""

    name: str
    default: str
    syntaxes: tuple[str, ...]

    @property
    def is_image(self) -> bool:
        return self.name.startswith("image/")


PIXEL_MEDIA_TYPES: Mapping[str, PixelMediaType] = {
    t.name: t
    for t in (
        PixelMediaType(OCTET_STREAM, EXPLICIT_VR_LITTLE_ENDIAN, NATIVE_LITTLE_ENDIAN),
        PixelMediaType("image/jpeg", _JPEG[0], _JPEG),
        PixelMediaType("image/jls", _JPEG_LS[0], _JPEG_LS),
        PixelMediaType("image/x-jls", _JPEG_LS[0], _JPEG_LS),
        PixelMediaType("image/jp2", _JPEG_2000[0], _JPEG_2000),
        PixelMediaType("image/jpx", _JPEG_2000_PART_2[0], _JPEG_2000_PART_2),
        PixelMediaType("image/jphc", _HTJ2K[0], _HTJ2K),
        PixelMediaType("image/dicom-rle", _RLE[0], _RLE),
        PixelMediaType("image/x-dicom-rle", _RLE[0], _RLE),
        PixelMediaType("video/mpeg", _MPEG2[0], _MPEG2),
        PixelMediaType("video/mp4", _MP4[0], _MP4),
    )
}


def default_syntax(media_type: str) -> str | None:
    """The transfer syntax ``media_type`` means when the request names none (PS3.18 Table
    8.7.3-2: ``application/dicom`` is Explicit VR Little Endian); None for other types."""
    if media_type == DICOM:
        return EXPLICIT_VR_LITTLE_ENDIAN
    found = PIXEL_MEDIA_TYPES.get(media_type)
    return found.default if found else None


def image_media_types_of(transfer_syntax: str) -> tuple[str, ...]:
    """The image media types a frame stored in ``transfer_syntax`` has as it is stored
    (empty for native and video syntaxes, whose frames are ``application/octet-stream``)."""
    return tuple(
        t.name for t in PIXEL_MEDIA_TYPES.values() if t.is_image and transfer_syntax in t.syntaxes
    )


IMAGE_MEDIA_TYPES = tuple(sorted(t.name for t in PIXEL_MEDIA_TYPES.values() if t.is_image))
