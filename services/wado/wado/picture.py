"""Native frames to consumer pictures (PS3.18 §8.3.5.1): pixels laid out from the pixel
description, grayscale through ``voi``, colour through ``color``, MONOCHROME1 inverted, cut to
a region, scaled to a viewport, encoded with Pillow — a multi-frame GIF animated.

Everything here is blocking and pure: callers run it in a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from wado import color, voi
from wado.voi import Window

JPEG, PNG, GIF = "image/jpeg", "image/png", "image/gif"
FORMATS = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF"}
GIF_FRAME_MS = 100  # without a Frame Time (0018,1063) we show ten frames a second

Region = tuple[float, float, float, float]


def picture(
    frame: bytes,
    metadata: dict[str, Any],
    window: Window | None,
    region: Region | None = None,
    viewport: tuple[int, int] | None = None,
) -> Image.Image:
    """One native frame (Explicit VR Little Endian bytes) as an 8-bit L or RGB picture."""
    values = pixel_array(frame, metadata)
    if color.is_color(metadata):
        image = Image.fromarray(color.to_rgb8(values, metadata), mode="RGB")
    else:
        display = voi.to_display(values, metadata, window)
        if color.photometric(metadata) == "MONOCHROME1":
            display = 255 - display
        image = Image.fromarray(display, mode="L")
    if region:
        image = image.crop(_box(region, image.size))
    if viewport:
        image.thumbnail(viewport)
    return image


def encode(images: Sequence[Image.Image], media_type: str, quality: int, frame_ms: int) -> bytes:
    """The pictures in ``media_type``; several only for GIF, as an animation (GIF89a)."""
    out = io.BytesIO()
    first, *rest = images
    if media_type == GIF and rest:
        first.save(out, format="GIF", save_all=True, append_images=rest, duration=frame_ms, loop=0)
    else:
        first.save(out, format=FORMATS[media_type], quality=quality)
    return out.getvalue()


def pixel_array(frame: bytes, metadata: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The frame's stored values, rows x columns (x samples), per the pixel description."""
    rows, columns = int(voi.value(metadata, "00280010")), int(voi.value(metadata, "00280011"))
    samples = int(voi.value(metadata, "00280002", 1))
    bits = int(voi.value(metadata, "00280100", 8))
    if bits == 1:
        flat = np.unpackbits(np.frombuffer(frame, np.uint8), bitorder="little")
        return flat[: rows * columns].reshape(rows, columns).astype(np.uint8)
    if samples == 3 and color.photometric(metadata) == "YBR_FULL_422" and bits == 8:
        return color.expand_422(frame, rows, columns)
    signed = int(voi.value(metadata, "00280103", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{max(bits // 8, 1)}")
    count = rows * columns * samples
    if samples > 1 and int(voi.value(metadata, "00280006", 0)) == 1:
        planes = np.frombuffer(frame, dtype)[:count].reshape(samples, rows, columns)
        return planes.transpose(1, 2, 0)
    shape = (rows, columns, samples) if samples > 1 else (rows, columns)
    return np.frombuffer(frame, dtype)[:count].reshape(shape)


def _box(region: Region, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region's pixel box, at least one pixel wide and high."""
    width, height = size
    left, top = int(region[0] * width), int(region[1] * height)
    right = max(round(region[2] * width), left + 1)
    bottom = max(round(region[3] * height), top + 1)
    return left, top, min(right, width), min(bottom, height)
