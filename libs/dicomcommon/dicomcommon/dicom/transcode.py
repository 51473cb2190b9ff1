"""Transfer syntax conversion of whole instances (PS3.18 §8.7.3.5; a C-MOVE / C-GET
destination that accepts only uncompressed syntaxes): what can be converted into what with the
codecs installed, and the conversion itself.

A conversion holds one instance in memory and runs in a worker thread: pydicom decodes with
pylibjpeg / GDCM / pyjpegls and encodes RLE Lossless, JPEG-LS and JPEG 2000. Native syntaxes
convert among themselves for any object, with or without pixel data.
"""

from __future__ import annotations

import io
from functools import cache

import pydicom
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder

# Native syntaxes we write. Explicit VR Big Endian is retired (PS3.5 A.3) and not offered.
NATIVE = frozenset(
    {uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian}
)
_READABLE_NATIVE = NATIVE | {uid.ExplicitVRBigEndian}


class TranscodeError(Exception):
    """The instance's data cannot be converted (corrupt or unsupported pixel data)."""


def is_native(transfer_syntax: str) -> bool:
    return transfer_syntax in _READABLE_NATIVE


@cache
def can_decode(transfer_syntax: str) -> bool:
    """Can pixel data stored in ``transfer_syntax`` be turned into native pixels?"""
    if is_native(transfer_syntax):
        return True
    try:
        return bool(get_decoder(uid.UID(transfer_syntax)).is_available)
    except NotImplementedError:
        return False


@cache
def can_encode(transfer_syntax: str) -> bool:
    """Can native pixels be encoded into ``transfer_syntax``?"""
    if transfer_syntax in NATIVE:
        return True
    try:
        return bool(get_encoder(uid.UID(transfer_syntax)).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_transcode(stored: str, wanted: str, has_pixel_data: bool = True) -> bool:
    """Whether an instance stored in ``stored`` can be sent in ``wanted`` (``*``: as stored)."""
    if wanted in ("*", stored):
        return True
    if not has_pixel_data:
        return is_native(stored) and wanted in NATIVE
    return can_decode(stored) and can_encode(wanted)


def transcode(data: bytes, wanted: str) -> bytes:
    """The Part 10 file ``data`` re-encoded in ``wanted``; blocking, call it in a thread."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        _convert(ds, uid.UID(wanted))
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)  # may change endianness
    except Exception as exc:  # codecs raise anything on corrupt data: wrap at the boundary
        raise TranscodeError(f"cannot convert to {wanted}: {exc}") from exc
    return out.getvalue()


def _convert(ds: Dataset, wanted: uid.UID) -> None:
    stored = uid.UID(ds.file_meta.TransferSyntaxUID)
    has_pixels = "PixelData" in ds
    # A conversion changes the encoding, not the instance: the SOP Instance UID stays.
    if has_pixels and stored.is_compressed:
        ds.decompress(generate_instance_uid=False)
    elif has_pixels and stored.is_little_endian != wanted.is_little_endian:
        _swap_pixel_bytes(ds, wanted.is_little_endian)
    if has_pixels and wanted.is_compressed:
        ds.compress(wanted, generate_instance_uid=False)
        return
    ds.file_meta.TransferSyntaxUID = wanted


def _swap_pixel_bytes(ds: Dataset, little_endian: bool) -> None:
    """Native pixel data in the other byte order (Explicit VR Big Endian, retired, still
    stored by old modalities); the other values are re-encoded by ``dcmwrite`` itself."""
    pixels = ds.pixel_array
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<" if little_endian else ">")).tobytes()
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0  # pixel_array is colour-by-pixel
