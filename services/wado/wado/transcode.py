"""WADO's transfer syntax conversion is the shared one (``dicomcommon.dicom.transcode``), which the
DIMSE service's C-MOVE and C-GET use too; WADO's modules import it under this name."""

from dicomcommon.dicom.transcode import (
    NATIVE,
    TranscodeError,
    can_decode,
    can_encode,
    can_transcode,
    is_native,
    transcode,
)

__all__ = [
    "NATIVE",
    "TranscodeError",
    "can_decode",
    "can_encode",
    "can_transcode",
    "is_native",
    "transcode",
]
