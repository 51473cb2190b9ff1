"""Pixel data codecs for single frames: which media type a transfer syntax's frames have
(PS3.18 Table 8.7.3-5), and decoding one compressed frame into native pixels.

A frame is decoded from its own fragments only, with the pixel description from the
instance's metadata, so the rest of the object is never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from pydicom import uid
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder

from dicomcommon.dicom import mediatypes
from wado.index import InstanceDetail
from wado.transcode import TranscodeError

OCTET_STREAM = mediatypes.OCTET_STREAM

FRAME_MEDIA_TYPES = (OCTET_STREAM, *mediatypes.IMAGE_MEDIA_TYPES)

# The attributes that describe pixel data (PS3.3 C.7.6.3), enough to decode a frame.
PIXEL_DESCRIPTION = (
    "00280002",  # SamplesPerPixel
    "00280004",  # PhotometricInterpretation
    "00280006",  # PlanarConfiguration
    "00280010",  # Rows
    "00280011",  # Columns
    "00280100",  # BitsAllocated
    "00280101",  # BitsStored
    "00280102",  # HighBit
    "00280103",  # PixelRepresentation
)


def media_types_of(transfer_syntax: str) -> tuple[str, ...]:
    """The media types a frame stored in ``transfer_syntax`` is sent as, as stored."""
    if not uid.UID(transfer_syntax).is_compressed:
        return (OCTET_STREAM,)
    return mediatypes.image_media_types_of(transfer_syntax) or (OCTET_STREAM,)


def decoded_description(detail: InstanceDetail) -> dict[str, Any]:
    """The metadata as it holds for decoded frames: decoders interleave colour samples and
    turn YBR into RGB (PS3.5 §8.2.1), so a compressed instance's description changes."""
    if not uid.UID(detail.instance.transfer_syntax_uid).is_compressed:
        return detail.metadata
    described = dict(detail.metadata)
    described["00280006"] = {"vr": "US", "Value": [0]}
    if int((described.get("00280002", {}).get("Value") or [1])[0]) == 3:
        described["00280004"] = {"vr": "CS", "Value": ["RGB"]}
    return described


# The pixel description as pydicom's decoder options (its names, PS3.3 C.7.6.3).
_OPTIONS = {
    "00280002": "samples_per_pixel",
    "00280004": "photometric_interpretation",
    "00280006": "planar_configuration",
    "00280010": "rows",
    "00280011": "columns",
    "00280100": "bits_allocated",
    "00280101": "bits_stored",
    "00280103": "pixel_representation",
}
_DEFAULTS = {"samples_per_pixel": 1, "planar_configuration": 0, "pixel_representation": 0}


def describe(metadata: dict[str, Any]) -> dict[str, Any]:
    """The pixel description of an instance from its DICOM JSON metadata, as the keyword
    options of pydicom's decoders: no Dataset is built, which cost more than decoding a
    small frame."""
    options = dict(_DEFAULTS)
    for tag, name in _OPTIONS.items():
        values = metadata.get(tag, {}).get("Value")
        if values:
            options[name] = values[0]
    return options


def decode_frame(
    fragments: Iterable[bytes], description: dict[str, Any], transfer_syntax: str
) -> bytes:
    """One compressed frame as native little-endian pixels (colour as RGB, interleaved)."""
    syntax = uid.UID(transfer_syntax)
    options: dict[str, Any] = {**description, "transfer_syntax_uid": syntax, "number_of_frames": 1}
    try:
        array, _ = get_decoder(syntax).as_array(
            encapsulate([b"".join(fragments)]), index=0, **options
        )
    except Exception as exc:  # codecs raise anything on corrupt data: wrap at the boundary
        raise TranscodeError(f"cannot decode the frame: {exc}") from exc
    return native_bytes(array, int(description.get("bits_allocated", 8)))


def native_bytes(array: np.ndarray[Any, Any], bits: int) -> bytes:
    """A decoded frame's bytes as Explicit VR Little Endian stores them (PS3.5 §8.1.1);
    ``bits`` is the Bits Allocated."""
    if bits == 1:
        return np.packbits(array.astype(np.uint8).ravel(), bitorder="little").tobytes()
    dtype = array.dtype.newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
