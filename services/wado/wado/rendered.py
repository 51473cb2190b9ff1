"""Rendered and thumbnail resources (PS3.18 §10.4.1.1.3, §8.3.5.1): one frame as a consumer
image — modality LUT, window (the request's ``window`` or the instance's), MONOCHROME1
inversion, colour as RGB — cut to a ``region``, scaled to ``viewport``, encoded with Pillow.

WADO-RS rendered and WADO-URI (PS3.18 §9.5) both go through ``render_frame``.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from starlette.requests import Request

from dicomcommon.errors import DicomwebError, NotAcceptable
from wado import frames, pixels
from wado.context import WadoContext
from wado.index import InstanceDetail
from wado.negotiate import AS_STORED, Choice, Offer
from wado.transcode import TranscodeError

JPEG, PNG, GIF = "image/jpeg", "image/png", "image/gif"
OFFER = Offer(
    media_types=(JPEG, PNG, GIF), wildcard=Choice(False, JPEG, AS_STORED), single_part=True
)
_FORMATS = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF"}
THUMBNAIL_SIZE = 128

# Besides the pixel description: what rendering reads from the metadata (PS3.3 C.11.1, C.11.2).
RENDER_KEYS = ("00281050", "00281051", "00281052", "00281053", "00281056")


@dataclass(frozen=True)
class RenderParams:
    """The query parameters of a rendered request (PS3.18 Table 8.3.5-1)."""

    window: tuple[float, float] | None = None  # center, width
    viewport: tuple[int, int] | None = None  # columns, rows
    quality: int = 90
    # xmin, ymin, xmax, ymax as fractions of the image (WADO-URI ``region``, PS3.18 §9.5.1.2)
    region: tuple[float, float, float, float] | None = None

    @classmethod
    def of(cls, request: Request, thumbnail: bool = False) -> RenderParams:
        query = request.query_params
        window = _numbers(query["window"], 2, "window") if "window" in query else None
        viewport = _numbers(query["viewport"], 2, "viewport") if "viewport" in query else None
        if thumbnail and viewport is None:
            viewport = (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        quality = int(_numbers(query.get("quality", "90"), 1, "quality")[0])
        if not 1 <= quality <= 100 or (viewport and min(viewport) < 1):
            raise DicomwebError("quality must be 1-100 and viewport dimensions positive")
        size = (int(viewport[0]), int(viewport[1])) if viewport else None
        return cls((window[0], window[1]) if window else None, size, quality)


def _numbers(text: str, count: int, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",")[:count])
    except ValueError:
        raise DicomwebError(f"{name} must be comma-separated numbers: {text[:40]!r}") from None
    if len(values) < count:
        raise DicomwebError(f"{name} needs {count} numbers")
    return values


async def render_frame(
    ctx: WadoContext, detail: InstanceDetail, number: int, params: RenderParams, media_type: str
) -> bytes:
    """Frame ``number`` of an instance rendered as ``media_type``: read as native pixels by
    byte ranges, rendered in a worker thread; 404 for a frame it lacks, 406 if undecodable."""
    frames.check_numbers(detail, [number])
    try:
        [frame] = await frames.read_frames(ctx, detail, [number], frames.NATIVE)
    except TranscodeError as exc:
        raise NotAcceptable(str(exc)) from exc
    described = pixels.decoded_description(detail)
    return await asyncio.to_thread(render, frame, described, params, media_type)


def render(frame: bytes, metadata: dict[str, Any], params: RenderParams, media_type: str) -> bytes:
    """Encode one native frame (Explicit VR Little Endian bytes) as ``media_type``; blocking."""
    values = _array(frame, metadata)
    if values.ndim == 2:
        image = Image.fromarray(_grayscale(values, metadata, params.window), mode="L")
    else:
        image = Image.fromarray(_to_uint8(values), mode="RGB")
    if params.region:
        image = image.crop(_box(params.region, image.size))
    if params.viewport:
        image.thumbnail(params.viewport)
    out = io.BytesIO()
    image.save(out, format=_FORMATS[media_type], quality=params.quality)
    return out.getvalue()


def _box(
    region: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The region's pixel box, at least one pixel wide and high."""
    width, height = size
    left, top = int(region[0] * width), int(region[1] * height)
    right = max(round(region[2] * width), left + 1)
    bottom = max(round(region[3] * height), top + 1)
    return left, top, min(right, width), min(bottom, height)


def _value(metadata: dict[str, Any], tag: str, default: Any = None) -> Any:
    values = metadata.get(tag, {}).get("Value")
    return values[0] if values else default


def _array(frame: bytes, metadata: dict[str, Any]) -> np.ndarray[Any, Any]:
    rows, columns = int(_value(metadata, "00280010")), int(_value(metadata, "00280011"))
    samples = int(_value(metadata, "00280002", 1))
    bits = int(_value(metadata, "00280100", 8))
    if bits == 1:
        flat = np.unpackbits(np.frombuffer(frame, np.uint8), bitorder="little")
        return flat[: rows * columns].reshape(rows, columns) * 255
    signed = int(_value(metadata, "00280103", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{max(bits // 8, 1)}")
    shape = (rows, columns, samples) if samples > 1 else (rows, columns)
    if samples > 1 and int(_value(metadata, "00280006", 0)) == 1:
        return np.frombuffer(frame, dtype).reshape(samples, rows, columns).transpose(1, 2, 0)
    return np.frombuffer(frame, dtype)[: rows * columns * samples].reshape(shape)


def _grayscale(
    pixels: np.ndarray[Any, Any], metadata: dict[str, Any], window: tuple[float, float] | None
) -> np.ndarray[Any, Any]:
    """Modality LUT (rescale), then linear VOI windowing (PS3.3 C.11.2.1.2.1) to 8 bits."""
    slope = float(_value(metadata, "00281053", 1) or 1)
    values = pixels.astype(np.float64) * slope + float(_value(metadata, "00281052", 0) or 0)
    center, width = window or _instance_window(metadata, values)
    width = max(width, 1.0)
    low = center - 0.5 - (width - 1) / 2
    out = np.rint(np.clip((values - low) / max(width - 1, 1.0), 0, 1) * 255).astype(np.uint8)
    if _value(metadata, "00280004", "") == "MONOCHROME1":
        return 255 - out
    return out


def _instance_window(metadata: dict[str, Any], values: np.ndarray[Any, Any]) -> tuple[float, float]:
    center, width = _value(metadata, "00281050"), _value(metadata, "00281051")
    if center is not None and width is not None:
        return float(center), float(width)
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0)


def _to_uint8(pixels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if pixels.dtype == np.uint8:
        return pixels
    high = max(float(pixels.max()), 1.0)
    return (pixels.astype(np.float64) / high * 255).astype(np.uint8)
