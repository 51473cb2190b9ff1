"""A data set STOW built itself (from metadata and bulk data, or de-identified) written as a
Part 10 file into a ``multipart.Part``, so it takes exactly a received part's path."""

from __future__ import annotations

import io
import tempfile
from typing import BinaryIO, cast

from pydicom.dataset import Dataset

from dicomcommon.web import multipart
from dicomcommon.web.multipart import Part


def to_part(ds: Dataset) -> Part:
    """Write ``ds`` as a Part 10 file into a new part (``application/dicom``); on disk when its
    pixel data alone passes the multipart spool threshold, like a received part."""
    large = len(ds.get("PixelData") or b"") > multipart.SPOOL_IN_MEMORY
    body = cast(BinaryIO, tempfile.TemporaryFile() if large else io.BytesIO())  # noqa: SIM115
    try:
        ds.save_as(body, enforce_file_format=True)
    except BaseException:
        body.close()
        raise
    size = body.tell()
    body.seek(0)
    return Part({"content-type": "application/dicom"}, body, size)
