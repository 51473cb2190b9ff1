"""Element classes the standard defines once and every reader of DICOM shares (PS3.5).

The pixel-data tags, the binary VRs whose values may become bulk data, and the explicit-VR
encodings with a 4-byte length. The header walk, the pydicom fallback, the frame map, the
de-identifier, STOW's metadata requests and WADO's bulk data all read these sets from here.
"""

from __future__ import annotations

from collections.abc import Mapping

# Pixel Data, Float Pixel Data, Double Float Pixel Data (PS3.3 C.7.6.3), each with the VR it
# has when the transfer syntax is implicit (PS3.5 Annex A.1).
PIXEL_DATA_VRS: Mapping[int, str] = {0x7FE00010: "OW", 0x7FE00008: "OF", 0x7FE00009: "OD"}
PIXEL_DATA_TAGS = frozenset(PIXEL_DATA_VRS)
# The same tags as DICOM JSON keys (``ggggeeee``, upper case), which BulkDataURIs name.
PIXEL_DATA_KEYS = frozenset(f"{tag:08X}" for tag in PIXEL_DATA_TAGS)

# VRs whose values are bytes (PS3.18 F.2.7: InlineBinary or BulkDataURI).
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

# Explicit-VR encodings with a reserved 2 bytes and a 4-byte length (PS3.5 Table 7.1-1).
LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
