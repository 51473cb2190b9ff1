"""Which installed codec pydicom tries first for each compressed transfer syntax.

pydicom tries its decoder plugins in the order they were added, GDCM first for most syntaxes.
Timed on the bench corpus (one frame, 64 to 1760 pixels square), other plugins are several
times faster for some syntaxes: CharLS (``pyjpegls``) for JPEG-LS, 4 to 10 times; libjpeg
(``pylibjpeg``) for JPEG Baseline, about 3 times; for JPEG 2000, OpenJPEG through
imagecodecs (``wado.jpeg2k``, our own plugin), which also decodes large frames in several
threads. GDCM stays first for JPEG Lossless, where it is about twice as fast. The others stay
behind as fall-backs, still tried in turn when the first one fails on a file.
"""

from __future__ import annotations

import contextlib

from pydicom import uid
from pydicom.pixels.decoders.base import get_decoder

from wado import jpeg2k

FIRST: dict[str, str] = {
    uid.JPEGBaseline8Bit: "pylibjpeg",
    uid.JPEGExtended12Bit: "pylibjpeg",
    uid.JPEGLSLossless: "pyjpegls",
    uid.JPEGLSNearLossless: "pyjpegls",
    uid.JPEG2000Lossless: "imagecodecs",
    uid.JPEG2000: "imagecodecs",
}
_OWN_PLUGINS = {"imagecodecs": ("wado.jpeg2k", "decode_frame")}
_PLUGIN_MODULES = ("gdcm", "pylibjpeg", "pillow", "pyjpegls")  # pydicom.pixels.decoders.*


def prefer_fastest(decode_threads: int = 1) -> None:
    """Put each syntax's preferred plugin first, when it is installed, and let large JPEG 2000
    frames decode in ``decode_threads`` threads. pydicom's plugin API cannot reorder, but a
    plugin removed and added again goes last: so do the others."""
    jpeg2k.use_threads(decode_threads)
    for syntax, first in FIRST.items():
        decoder = get_decoder(uid.UID(syntax))
        if first in _OWN_PLUGINS and first not in decoder.available_plugins:
            with contextlib.suppress(ValueError):  # added before, but cannot run here
                decoder.add_plugin(first, _OWN_PLUGINS[first])
        if first not in decoder.available_plugins:
            continue  # not installed here: pydicom's own order stands
        for label in decoder.available_plugins:
            if label != first and label in _PLUGIN_MODULES:
                decoder.remove_plugin(label)
                decoder.add_plugin(label, (f"pydicom.pixels.decoders.{label}", "_decode_frame"))
