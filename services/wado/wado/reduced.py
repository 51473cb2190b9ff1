"""JPEG 2000 frames decoded at a reduced resolution for pictures smaller than the frame.

A JPEG 2000 codestream holds its image as a pyramid of wavelet resolutions, so a picture
that only has to fit a viewport (a 128-pixel thumbnail of a 1760-pixel radiograph) can be
decoded from a lower level: OpenJPEG (through Pillow, which exposes the reduce factor) then
skips the finer levels, 10 to 30 times less work than decoding the whole frame and shrinking
it. The level chosen is the smallest that is still at least the size of the picture, so the
final shrink to the viewport is the same one a whole frame would get.

Pillow hands N-bit samples over scaled to 8 or 16 bits and signed ones offset into the
unsigned range; both are undone here as pydicom's Pillow decoder does. Whatever this cannot
decode faithfully (more than 8 bits in colour, more than 16 bits, a codestream it cannot read)
returns ``None``, and the caller decodes the whole frame as before.
"""

from __future__ import annotations

import io
import math
import struct
from typing import Any

import numpy as np
from PIL.Jpeg2KImagePlugin import Jpeg2KImageFile
from pydicom import uid

SYNTAXES = frozenset({uid.JPEG2000Lossless, uid.JPEG2000})
_SOC_SIZ = b"\xff\x4f\xff\x51"  # start of codestream, then the image and tile size marker
_JP2_SIGNATURE, _JP2_CODESTREAM = b"jP  ", b"jp2c"  # a JP2 file's first box; its codestream box


def decode_smaller(
    frame: bytes, description: dict[str, Any], syntax: str, viewport: tuple[int, int]
) -> tuple[bytes, int, int] | None:
    """The frame decoded at the lowest resolution still at least as large as the picture
    that fits ``viewport``: native little-endian bytes with their rows and columns, or
    ``None`` when a reduced decode would not help or cannot be done faithfully."""
    rows, columns = int(description["rows"]), int(description["columns"])
    factor = reduce_factor(columns, rows, viewport)
    siz = _siz(frame) if syntax in SYNTAXES and factor > 0 else None
    if siz is None:
        return None
    precision, signed = siz
    samples = int(description.get("samples_per_pixel", 1))
    if precision > 16 or (samples > 1 and precision > 8):
        return None
    try:
        image = Jpeg2KImageFile(io.BytesIO(frame))
        image.reduce = factor
        image.load()
    except (OSError, ValueError, SyntaxError):
        return None  # e.g. fewer resolution levels than the factor: decode it whole
    array = _unscaled(np.asarray(image), precision, signed)
    bits = int(description.get("bits_allocated", 8))
    kind = "i" if int(description.get("pixel_representation", 0)) == 1 else "u"
    native = np.ascontiguousarray(array, dtype=f"<{kind}{max(bits // 8, 1)}")
    return native.tobytes(), native.shape[0], native.shape[1]


def reduce_factor(columns: int, rows: int, viewport: tuple[int, int]) -> int:
    """How many halvings of the frame still leave at least the picture fitting ``viewport``
    (PIL's ``thumbnail``: the largest size with the frame's aspect within the box)."""
    scale = min(viewport[0] / columns, viewport[1] / rows)
    if scale >= 1:
        return 0
    return max(0, math.floor(math.log2(1 / scale)))


def _siz(frame: bytes) -> tuple[int, bool] | None:
    """Precision and signedness of the first component, from the SIZ marker (ISO 15444-1
    A.5.1); ``None`` if the frame does not start a codestream (or a JP2 file) we can read."""
    start = 0 if frame.startswith(_SOC_SIZ) else -1
    if frame[4:8] == _JP2_SIGNATURE:
        box = frame.find(_JP2_CODESTREAM)
        start = frame.find(_SOC_SIZ, box, box + 16) if box >= 0 else -1
    if start < 0 or len(frame) < start + 43:
        return None
    (ssiz,) = struct.unpack_from(">B", frame, start + 42)
    return (ssiz & 0x7F) + 1, bool(ssiz & 0x80)


def _unscaled(array: np.ndarray[Any, Any], precision: int, signed: bool) -> np.ndarray[Any, Any]:
    """Pillow's 8- or 16-bit unsigned samples back to the codestream's values."""
    container = 8 if precision <= 8 else 16
    values = array.astype(np.int32)
    if signed:  # Pillow offset them by half the container's range
        values -= np.int32(1 << (container - 1))
    shift = container - precision
    return values >> shift if shift else values
