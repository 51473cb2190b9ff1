"""JPEG 2000 frames decoded by OpenJPEG through ``imagecodecs``, in several threads: a pydicom
decoder plugin that ``decoders.prefer_fastest`` puts first.

Neither pylibjpeg-openjpeg nor Pillow starts any thread of OpenJPEG's own, and both hold the
GIL while they decode, so a long decode in a worker thread stalls the event loop too.
imagecodecs bundles OpenJPEG 2.5, hands it a thread count and releases the GIL. Timed on the
bench corpus's JPEG 2000 templates (the README's rendered section has the table), it takes
the same CPU or up to 15 % less on one thread, and two threads cut the wall time of a frame
by 30 to 40 % when a core is free, for 3 to 6 % more CPU than before. OpenJPEG shares out the
code-blocks and the wavelet transform, so the gain grows with the coded bytes: a codestream
under ``THREADED_FROM_BYTES`` (a few milliseconds of work) decodes on one thread, where
starting threads would cost more than it saves.

pydicom's decoding around the plugin stays as it was (the sign and precision corrections from
the codestream, the colour description), so the pixels are those of the plugin it replaces,
bit for bit: this returns the codestream's samples, interleaved, as pylibjpeg-openjpeg does.
"""

from __future__ import annotations

import imagecodecs
from pydicom import uid
from pydicom.pixels.common import PhotometricInterpretation
from pydicom.pixels.decoders.base import DecodeRunner

SYNTAXES = frozenset({uid.JPEG2000Lossless, uid.JPEG2000})
DECODER_DEPENDENCIES = {syntax: ("imagecodecs",) for syntax in SYNTAXES}
THREADED_FROM_BYTES = 32 * 1024
"""Smaller codestreams decode on one thread (timed: 4 KB take 1 ms, and 1.3 ms on two)."""

_threads = {"count": 1}


def use_threads(count: int) -> None:
    """Decode codestreams of ``THREADED_FROM_BYTES`` or more in ``count`` threads (this
    process's setting, ``DICOMWEB_WADO_DECODE_THREADS``)."""
    _threads["count"] = max(1, count)


def threads_for(codestream: bytes) -> int:
    """The threads ``codestream`` decodes in."""
    return _threads["count"] if len(codestream) >= THREADED_FROM_BYTES else 1


def is_available(syntax: str) -> bool:
    """pydicom's plugin interface: whether this plugin can decode ``syntax`` here."""
    return syntax in SYNTAXES and bool(imagecodecs.JPEG2K.available)


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """pydicom's plugin interface: one frame's samples, interleaved, in the container its
    codestream's precision needs; what pydicom assumes of the output is set on ``runner``."""
    array = imagecodecs.jpeg2k_decode(src, numthreads=threads_for(src))
    if runner.photometric_interpretation in (
        PhotometricInterpretation.YBR_ICT,
        PhotometricInterpretation.YBR_RCT,
    ):  # OpenJPEG undoes the multiple component transform (ISO 15444-1 G.2, G.3)
        runner.set_option("photometric_interpretation", PhotometricInterpretation.RGB)
    runner.set_option("bits_allocated", array.dtype.itemsize * 8)
    runner.set_option("planar_configuration", 0)
    return array.tobytes()
