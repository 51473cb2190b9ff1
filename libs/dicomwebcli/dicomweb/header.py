"""The SOP Instance UID of a file, read from as few bytes as possible.

An upload must know which file the server's answer speaks of (the STOW response names SOP
Instance UIDs) and must notice one instance met twice, but it need not parse the dataset:
Part 10 files carry Media Storage SOP Instance UID (0002,0003) in their File Meta Information,
a few hundred bytes after the preamble, always Explicit VR Little Endian (PS3.10 §7.1). A full
pydicom read costs about a millisecond per file, which on a busy machine is the server's time;
this costs microseconds. Files without File Meta Information fall back to pydicom, stopped
before the pixel data. A file neither way can read is not DICOM.
"""

from __future__ import annotations

import struct
from typing import IO

MEDIA_STORAGE_SOP_CLASS_UID = 0x00020002
MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # a DICOMDIR: an index of files, not an instance
_PREAMBLE = 128
_META_READ = 4096
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})  # fmt: skip
_ELEMENT = struct.Struct("<HH2s")
_SHORT = struct.Struct("<H")
_LONG = struct.Struct("<L")


class NotDicom(Exception):
    """The file has no SOP Instance UID that either reader can find."""


def sop_instance_uid(stream: IO[bytes]) -> tuple[str, str | None]:
    """The file's SOP Instance UID and, when its meta names it, its SOP Class UID."""
    head = stream.read(_PREAMBLE + 4 + _META_READ)
    if head[_PREAMBLE : _PREAMBLE + 4] == b"DICM":
        found = _meta_uids(head[_PREAMBLE + 4 :])
        if found.get(MEDIA_STORAGE_SOP_INSTANCE_UID):
            return found[MEDIA_STORAGE_SOP_INSTANCE_UID], found.get(MEDIA_STORAGE_SOP_CLASS_UID)
    stream.seek(0)
    return _pydicom_uids(stream)


def _meta_uids(meta: bytes) -> dict[int, str]:
    """UI values of group 0002, walked element by element until the group ends."""
    found: dict[int, str] = {}
    at = 0
    while at + 8 <= len(meta):
        group, element, vr = _ELEMENT.unpack_from(meta, at)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            if at + 12 > len(meta):
                break
            (length,) = _LONG.unpack_from(meta, at + 8)
            at += 12
        else:
            (length,) = _SHORT.unpack_from(meta, at + 6)
            at += 8
        if vr == b"UI" and at + length <= len(meta):
            found[(group << 16) | element] = meta[at : at + length].decode("ascii", "replace")
            found[(group << 16) | element] = found[(group << 16) | element].rstrip("\0 ")
        at += length
    return found


def _pydicom_uids(stream: IO[bytes]) -> tuple[str, str | None]:
    import pydicom  # here: importing it costs a second or more, and few files need it

    try:
        ds = pydicom.dcmread(
            stream,
            force=True,
            stop_before_pixels=True,
            specific_tags=["SOPInstanceUID", "SOPClassUID"],
        )
        uid = str(ds.get("SOPInstanceUID", "") or "")
        sop_class = str(ds.get("SOPClassUID", "") or "") or None
    except Exception as exc:  # forced reads of arbitrary bytes fail in many ways
        raise NotDicom(f"not a DICOM file ({exc})") from exc
    if not uid:
        raise NotDicom("not a DICOM file (no SOP Instance UID)")
    return uid, sop_class
