"""Real DICOM test files with fresh UIDs, and crafted bad ones named after their defect."""

from __future__ import annotations

import io
import uuid

import httpx
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

BOUNDARY = "dicomweb-test-boundary"


def template(name: str = "CT_small.dcm") -> Dataset:
    path = get_testdata_file(name)
    assert path is not None, name
    return pydicom.dcmread(path)


def fresh(
    name: str = "CT_small.dcm",
    study: str | None = None,
    series: str | None = None,
    patient_id: str | None = None,
) -> Dataset:
    """A pydicom test file with new Study / Series / SOP Instance UIDs (or the given ones)."""
    ds = template(name)
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = patient_id or f"PID-{uuid.uuid4().hex[:12]}"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart_body(parts: list[bytes], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for part in parts:
        out += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def ct_missing_sop_instance_uid() -> bytes:
    ds = fresh()
    del ds.SOPInstanceUID
    return to_bytes(ds)


def ct_truncated_in_pixel_data() -> tuple[Dataset, bytes]:
    ds = fresh()
    data = to_bytes(ds)
    return ds, data[: len(data) - 1000]


def not_dicom() -> bytes:
    return b"this is a text file, not a DICOM Part 10 file\n" * 10


def store(
    dicomweb_url: str,
    body: bytes,
    content_type: str = "application/dicom",
    study: str | None = None,
) -> httpx.Response:
    """POST a STOW-RS request (one file, or a multipart body with ``MULTIPART``)."""
    url = f"{dicomweb_url}/studies" + (f"/{study}" if study else "")
    return httpx.post(url, content=body, headers={"Content-Type": content_type}, timeout=60)
