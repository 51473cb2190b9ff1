"""Which installed codec pydicom tries first for each compressed transfer syntax.

pydicom tries its decoder plugins in the order they were added, GDCM first for most syntaxes.
Timed on the bench corpus (one frame, 64 to 1760 pixels square), other plugins are several
times faster for some syntaxes: CharLS (``pyjpegls``) for JPEG-LS, 4 to 10 times; for the
JPEG processes (baseline, 12-bit extended, lossless), libjpeg-turbo through imagecodecs
(``wado.jpeg``, our own plugin), 2 to 10 times, and it decodes 12-bit JPEG that the others
refuse; for JPEG 2000, OpenJPEG through imagecodecs (``wado.jpeg2k``, our own plugin), which
also decodes large frames in several threads. Both of ours release the GIL while decoding.
The others stay behind as fall-backs, still tried in turn when the first one fails on a file.
"""

from __future__ import annotations

import contextlib

from pydicom import uid
from pydicom.pixels.decoders.base import get_decoder

from wado import jpeg, jpeg2k

OWN = "imagecodecs"
"""The label of our plugins (``wado.jpeg``, ``wado.jpeg2k``): both decode through imagecodecs."""
_OWN_MODULES: dict[str, str] = {
    **{syntax: "wado.jpeg" for syntax in jpeg.SYNTAXES},
    **{syntax: "wado.jpeg2k" for syntax in jpeg2k.SYNTAXES},
}
FIRST: dict[str, str] = {
    **{syntax: OWN for syntax in _OWN_MODULES},
    uid.JPEGLSLossless: "pyjpegls",
    uid.JPEGLSNearLossless: "pyjpegls",
}
_PLUGIN_MODULES = ("gdcm", "pylibjpeg", "pillow", "pyjpegls")  # pydicom.pixels.decoders.*


def prefer_fastest(decode_threads: int = 1) -> None:
    """Put each syntax's preferred plugin first, when it is installed, and let large JPEG 2000
    frames decode in ``decode_threads`` threads. pydicom's plugin API cannot reorder, but a
    plugin removed and added again goes last: so do the others."""
    jpeg2k.use_threads(decode_threads)
    for syntax, first in FIRST.items():
        decoder = get_decoder(uid.UID(syntax))
        if first == OWN and first not in decoder.available_plugins:
            with contextlib.suppress(ValueError):  # added before, but cannot run here
                decoder.add_plugin(first, (_OWN_MODULES[syntax], "decode_frame"))
        if first not in decoder.available_plugins:
            continue  # not installed here: pydicom's own order stands
        for label in decoder.available_plugins:
            if label != first and label in _PLUGIN_MODULES:
                decoder.remove_plugin(label)
                decoder.add_plugin(label, (f"pydicom.pixels.decoders.{label}", "_decode_frame"))
