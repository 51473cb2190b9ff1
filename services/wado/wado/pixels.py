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
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder

from wado.index import InstanceDetail
from wado.transcode import TranscodeError

OCTET_STREAM = "application/octet-stream"

_FRAME_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "1.2.840.10008.1.2.4.50": ("image/jpeg",),
    "1.2.840.10008.1.2.4.51": ("image/jpeg",),
    "1.2.840.10008.1.2.4.57": ("image/jpeg",),
    "1.2.840.10008.1.2.4.70": ("image/jpeg",),
    "1.2.840.10008.1.2.4.80": ("image/jls", "image/x-jls"),
    "1.2.840.10008.1.2.4.81": ("image/jls", "image/x-jls"),
    "1.2.840.10008.1.2.4.90": ("image/jp2",),
    "1.2.840.10008.1.2.4.91": ("image/jp2",),
    "1.2.840.10008.1.2.4.92": ("image/jpx",),
    "1.2.840.10008.1.2.4.93": ("image/jpx",),
    "1.2.840.10008.1.2.4.201": ("image/jphc",),
    "1.2.840.10008.1.2.4.202": ("image/jphc",),
    "1.2.840.10008.1.2.4.203": ("image/jphc",),
    "1.2.840.10008.1.2.5": ("image/dicom-rle", "image/x-dicom-rle"),
}
FRAME_MEDIA_TYPES = (OCTET_STREAM, *sorted({m for ms in _FRAME_MEDIA_TYPES.values() for m in ms}))

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
    return _FRAME_MEDIA_TYPES.get(transfer_syntax, (OCTET_STREAM,))


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


def describe(metadata: dict[str, Any]) -> Dataset:
    """The pixel description of an instance from its DICOM JSON metadata."""
    return Dataset.from_json({t: metadata[t] for t in PIXEL_DESCRIPTION if t in metadata})


def decode_frame(fragments: Iterable[bytes], description: Dataset, transfer_syntax: str) -> bytes:
    """One compressed frame as native little-endian pixels (colour as RGB, interleaved)."""
    ds = Dataset()
    ds.update(description)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.UID(transfer_syntax)
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"".join(fragments)])
    try:
        array, _ = get_decoder(uid.UID(transfer_syntax)).as_array(ds, index=0)
    except Exception as exc:  # codecs raise anything on corrupt data: wrap at the boundary
        raise TranscodeError(f"cannot decode the frame: {exc}") from exc
    return native_bytes(array, description)


def native_bytes(array: np.ndarray[Any, Any], description: Dataset) -> bytes:
    """A decoded frame's bytes as Explicit VR Little Endian stores them (PS3.5 §8.1.1)."""
    bits = int(description.get("BitsAllocated", 8))
    if bits == 1:
        return np.packbits(array.astype(np.uint8).ravel(), bitorder="little").tobytes()
    dtype = array.dtype.newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
