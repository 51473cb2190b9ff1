"""Colour for rendered images (PS3.3 C.7.6.3.1.2, C.7.6.3.1.5-6): PALETTE COLOR through its
lookup tables, native YBR_FULL and YBR_FULL_422 converted to RGB, RGB scaled to 8 bits.

Decoders already hand compressed frames over as RGB; this is for what is stored natively.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, convert_color_space

from dicomcommon.errors import NotAcceptable

Array = np.ndarray[Any, Any]
PHOTOMETRIC = "00280004"
# Palette descriptors (0028,1101-1103), data (0028,1201-1203), segmented data (0028,1221-1223).
PALETTE_KEYS = (
    "00281101",
    "00281102",
    "00281103",
    "00281201",
    "00281202",
    "00281203",
    "00281221",
    "00281222",
    "00281223",
)
YBR = ("YBR_FULL", "YBR_FULL_422")


def photometric(metadata: dict[str, Any]) -> str:
    values = metadata.get(PHOTOMETRIC, {}).get("Value") or [""]
    return str(values[0]).strip().upper()


def is_color(metadata: dict[str, Any]) -> bool:
    return photometric(metadata) == "PALETTE COLOR" or _samples(metadata) > 1


def expand_422(frame: bytes, rows: int, columns: int) -> Array:
    """Native YBR_FULL_422 (PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr per pair of pixels, 8 bits) as a
    full rows x columns x 3 YBR array."""
    pairs = np.frombuffer(frame, np.uint8)[: rows * columns * 2].reshape(-1, 4)
    out = np.empty((pairs.shape[0] * 2, 3), np.uint8)
    out[0::2, 0], out[1::2, 0] = pairs[:, 0], pairs[:, 1]
    out[0::2, 1] = out[1::2, 1] = pairs[:, 2]
    out[0::2, 2] = out[1::2, 2] = pairs[:, 3]
    return out.reshape(rows, columns, 3)


def to_rgb8(pixels: Array, metadata: dict[str, Any]) -> Array:
    """A colour frame as rows x columns x 3 uint8 RGB."""
    kind = photometric(metadata)
    if kind == "PALETTE COLOR":
        return _through_palette(pixels, metadata)
    if kind in YBR and pixels.dtype == np.uint8:
        return np.asarray(convert_color_space(pixels, "YBR_FULL", "RGB"), np.uint8)
    if pixels.dtype == np.uint8:
        return pixels
    high = max(float(pixels.max()), 1.0)
    return (pixels.astype(np.float64) / high * 255).astype(np.uint8)


def _through_palette(pixels: Array, metadata: dict[str, Any]) -> Array:
    """PALETTE COLOR to RGB8: the palette maps each stored value on its own, so map the value
    range once (pydicom's lookup) and index that 8-bit table per pixel."""
    if pixels.dtype.kind not in "ui" or pixels.dtype.itemsize > 2 or pixels.min() < 0:
        return _rgb8(apply_color_lut(pixels, _palette(metadata)))
    stored = np.arange(int(pixels.max()) + 1, dtype=pixels.dtype)
    table = _rgb8(apply_color_lut(stored, _palette(metadata)))
    return np.take(table, pixels, axis=0)  # (several times faster than table[pixels])


def _rgb8(rgb: Array) -> Array:
    bits = 16 if rgb.dtype.itemsize > 1 else 8
    return (rgb >> (bits - 8)).astype(np.uint8) if bits > 8 else rgb.astype(np.uint8)


def _palette(metadata: dict[str, Any]) -> Dataset:
    """The palette attributes as a pydicom Dataset (BulkDataURIs resolved by the caller);
    a palette we cannot read is a 406, since the image cannot be shown faithfully."""
    try:
        present = {k: metadata[k] for k in PALETTE_KEYS if k in metadata}
        ds = Dataset.from_json({PHOTOMETRIC: metadata[PHOTOMETRIC], **present})
        ds.BitsStored = int((metadata.get("00280101", {}).get("Value") or [8])[0])
        for tag in PALETTE_KEYS[3:]:
            if tag in present and "InlineBinary" in present[tag]:
                ds[int(tag, 16)].value = base64.b64decode(present[tag]["InlineBinary"])
        return ds
    except (KeyError, ValueError, TypeError) as exc:
        raise NotAcceptable(f"the palette cannot be read: {exc}") from exc


def _samples(metadata: dict[str, Any]) -> int:
    return int((metadata.get("00280002", {}).get("Value") or [1])[0])
