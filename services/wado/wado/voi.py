"""The grayscale pipeline of a rendered image (PS3.3 C.11, PS3.4 N.2.1): Modality LUT or
Rescale, then the VOI transform — the request's window, the instance's VOI LUT Sequence or
its window with its VOI LUT Function (LINEAR, LINEAR_EXACT, SIGMOID) — straight to 8 bits.

Values come from the DICOM JSON metadata; LUT data arrives as ``Value`` lists (US / SS) or
``InlineBinary`` 16-bit words (OW), BulkDataURIs having been resolved by the caller.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomcommon.errors import DicomwebError

Array = np.ndarray[Any, Any]
FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")  # PS3.3 C.11.2.1.3
MODALITY_LUT_SEQUENCE, VOI_LUT_SEQUENCE = "00283000", "00283010"
LUT_DESCRIPTOR, LUT_DATA = "00283002", "00283006"
WINDOW_CENTER, WINDOW_WIDTH, VOI_LUT_FUNCTION = "00281050", "00281051", "00281056"
RESCALE_INTERCEPT, RESCALE_SLOPE = "00281052", "00281053"
VOI_KEYS = (
    WINDOW_CENTER,
    WINDOW_WIDTH,
    RESCALE_INTERCEPT,
    RESCALE_SLOPE,
    VOI_LUT_FUNCTION,
    MODALITY_LUT_SEQUENCE,
    VOI_LUT_SEQUENCE,
)


@dataclass(frozen=True)
class Window:
    """A window (PS3.3 C.11.2.1.2): center, width and the function that maps through it."""

    center: float
    width: float
    function: str = "LINEAR"

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise DicomwebError(f"VOI LUT Function must be one of {', '.join(FUNCTIONS)}")
        minimum = 1.0 if self.function == "LINEAR" else 0.0
        if self.width < minimum or (self.function != "LINEAR" and self.width <= 0):
            raise DicomwebError(f"window width {self.width} is not allowed for {self.function}")


def to_display(pixels: Array, metadata: dict[str, Any], window: Window | None) -> Array:
    """Stored values → 8-bit display values: Modality LUT, then the request's window or the
    instance's VOI (PS3.4 N.2.1.1: the VOI transform follows the Modality transform).

    Both transforms map each stored value on its own, so integer pixels of up to 16 bits go
    through a table of their value range, computed once: a large frame then costs one
    lookup per pixel instead of several float64 passes."""
    if pixels.dtype.kind not in "ui" or pixels.dtype.itemsize > 2:
        values = modality(pixels, metadata)
        return _voi(values, metadata, window, lambda: (float(values.min()), float(values.max())))
    least, greatest = int(pixels.min()), int(pixels.max())
    low = 0 if pixels.dtype.kind == "u" else least  # unsigned: index the table directly
    mapped = modality(np.arange(low, greatest + 1, dtype=np.int64), metadata)

    def value_range() -> tuple[float, float]:
        return _present_range(mapped[least - low :], pixels, least, metadata)

    table = _voi(mapped, metadata, window, value_range)
    return np.take(table, pixels if low == 0 else np.subtract(pixels, low, dtype=np.int32))


def _voi(
    values: Array,
    metadata: dict[str, Any],
    window: Window | None,
    value_range: Callable[[], tuple[float, float]],
) -> Array:
    """The VOI transform of modality values; without any window, the values' full range."""
    if window is not None:
        return apply_window(values, window)
    lut = _first_item(metadata, VOI_LUT_SEQUENCE)
    if lut is not None:
        return _scaled(*apply_lut(values, lut))
    instance = instance_window(metadata)
    if instance is not None:
        return apply_window(values, instance)
    low, high = value_range()
    return apply_window(values, Window((low + high) / 2, max(high - low, 1.0)))


def _present_range(
    mapped: Array, pixels: Array, low: int, metadata: dict[str, Any]
) -> tuple[float, float]:
    """The least and greatest modality value of the pixels present (``mapped`` starts at the
    least stored value, ``low``). Rescale is monotonic, so the ends of ``mapped`` are present
    values; a Modality LUT need not be, so count the values."""
    if _first_item(metadata, MODALITY_LUT_SEQUENCE) is not None:
        counts = np.bincount(np.subtract(pixels, low, dtype=np.int32).ravel(), minlength=1)
        mapped = mapped[: len(counts)][counts > 0]
    return float(mapped.min()), float(mapped.max())


def modality(pixels: Array, metadata: dict[str, Any]) -> Array:
    """The Modality LUT Sequence when present, else Rescale Slope / Intercept (C.11.1)."""
    lut = _first_item(metadata, MODALITY_LUT_SEQUENCE)
    if lut is not None:
        return apply_lut(pixels, lut)[0].astype(np.float64)
    slope = float(value(metadata, RESCALE_SLOPE, 1) or 1)
    return pixels.astype(np.float64) * slope + float(value(metadata, RESCALE_INTERCEPT, 0) or 0)


def instance_window(metadata: dict[str, Any]) -> Window | None:
    """The instance's first Window Center / Width with its VOI LUT Function, if usable."""
    center, width = value(metadata, WINDOW_CENTER), value(metadata, WINDOW_WIDTH)
    if center is None or width is None:
        return None
    function = str(value(metadata, VOI_LUT_FUNCTION, "LINEAR") or "LINEAR").strip().upper()
    try:
        return Window(float(center), float(width), function)
    except (DicomwebError, ValueError):
        return None  # a width the function forbids: fall back as if there were none


def apply_window(values: Array, window: Window) -> Array:
    """PS3.3 C.11.2.1.2.1 (LINEAR: width 1 is a hard threshold at center - 0.5),
    C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID), output 0-255."""
    c, w = window.center, window.width
    if window.function == "SIGMOID":
        with np.errstate(over="ignore"):  # exp overflows to inf far below c: 0 is right
            out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    elif window.function == "LINEAR_EXACT":
        out = np.clip((values - c) / w + 0.5, 0.0, 1.0) * 255.0
    elif w == 1:
        out = np.where(values > c - 0.5, 255.0, 0.0)
    else:
        out = np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0) * 255.0
    return np.rint(out).astype(np.uint8)


def apply_lut(values: Array, item: dict[str, Any]) -> tuple[Array, int]:
    """Map through a LUT (C.11.1.1.1, C.11.2.1.1): values below the first mapped value take
    the first entry, above the last the last entry. Returns the output and its bit depth."""
    descriptor = item.get(LUT_DESCRIPTOR, {}).get("Value") or []
    if len(descriptor) != 3:
        raise DicomwebError("LUT Descriptor must have three values")
    entries, first, bits = int(descriptor[0]) or 65536, int(descriptor[1]), int(descriptor[2])
    data = lut_data(item.get(LUT_DATA, {}))
    if len(data) < entries:
        raise DicomwebError(f"LUT Data has {len(data)} entries, the descriptor says {entries}")
    index = np.clip(np.rint(values).astype(np.int64) - first, 0, entries - 1)
    return data[:entries][index], bits


def lut_data(element: dict[str, Any]) -> Array:
    """LUT entries from ``Value`` (US / SS) or ``InlineBinary`` (OW: 16-bit words)."""
    if "Value" in element:
        return np.asarray(element["Value"], dtype=np.int64)
    if "InlineBinary" in element:
        return np.frombuffer(base64.b64decode(element["InlineBinary"]), "<u2").astype(np.int64)
    raise DicomwebError("LUT Data has no value")


def _scaled(values: Array, bits: int) -> Array:
    """A LUT's output (0 .. 2^bits - 1) as 8 bits."""
    high = float((1 << max(min(bits, 16), 1)) - 1)
    return np.rint(np.clip(values / high, 0.0, 1.0) * 255.0).astype(np.uint8)


def _first_item(metadata: dict[str, Any], tag: str) -> dict[str, Any] | None:
    items = metadata.get(tag, {}).get("Value") or []
    return items[0] if items and isinstance(items[0], dict) else None


def value(metadata: dict[str, Any], tag: str, default: Any = None) -> Any:
    """The first value of a DICOM JSON attribute, or ``default``."""
    values = metadata.get(tag, {}).get("Value")
    return values[0] if values else default
