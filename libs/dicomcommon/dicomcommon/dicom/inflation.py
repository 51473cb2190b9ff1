"""Deflated data sets (PS3.5 A.5) measured before anything inflates them.

pydicom inflates a Deflated Explicit VR Little Endian data set whole, in memory, in one call:
a few hundred KiB of deflated zeros become gigabytes. Here the stream is inflated in bounded
steps and only counted, so ingest can refuse a data set that inflates past its limit (or whose
stream is cut short) before pydicom sees it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import IO

MAX_INFLATED_BYTES = 256 << 20  # a deflated data set inflates at most to this
_STEP = 1 << 20  # input read, and output produced, per step


@dataclass(frozen=True)
class Measure:
    """What inflating found: the size (at most just past the limit) and whether the stream
    ended properly."""

    size: int
    complete: bool


def measure(body: IO[bytes], start: int, most: int = MAX_INFLATED_BYTES) -> Measure:
    """Inflate the raw deflate stream from ``start`` in steps, keeping nothing; stop once the
    output passes ``most``. A damaged stream raises ``zlib.error``."""
    body.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    while not inflater.eof and (pending := body.read(_STEP)):
        while pending and not inflater.eof:
            size += len(inflater.decompress(pending, _STEP))
            if size > most:
                return Measure(size, False)
            pending = inflater.unconsumed_tail
    return Measure(size, inflater.eof)
