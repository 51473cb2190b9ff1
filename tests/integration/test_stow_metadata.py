"""STOW-RS of metadata and bulk data (PS3.18 §10.5.1.2) through the gateway: DICOM JSON and
Native DICOM Model XML parts whose BulkDataURIs name the pixel data parts."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import orjson
import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from dicomcommon.dicom import dicomjson
from dicomcommon.errors import FailureReason
from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration

BOUNDARY = "metadata-bulk-boundary"
REFERENCED, FAILED, FAILURE_REASON = "00081199", "00081198", "00081197"


def _metadata(ds: Dataset) -> dict[str, Any]:
    def uri(elem: DataElement) -> str:
        return f"https://client.example/bulk/{ds.SOPInstanceUID}/{int(elem.tag):08X}"

    return ds.to_json_dict(bulk_data_threshold=1 << 14, bulk_data_element_handler=uri)


def _pixel_uri(ds: Dataset) -> str:
    return f"https://client.example/bulk/{ds.SOPInstanceUID}/7FE00010"


def _body(parts: list[tuple[dict[str, str], bytes]]) -> bytes:
    out = b""
    for headers, content in parts:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out += f"--{BOUNDARY}\r\n{lines}\r\n".encode() + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _store(stack: Stack, root: str, parts: list[tuple[dict[str, str], bytes]]) -> httpx.Response:
    content_type = f'multipart/related; type="{root}"; boundary={BOUNDARY}'
    return httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=_body(parts),
        headers={"Content-Type": content_type},
        timeout=60,
    )


def _retrieve(stack: Stack, ds: Dataset) -> Dataset:
    url = (
        f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    response = httpx.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200, response.text
    return pydicom.dcmread(io.BytesIO(response.content))


def test_json_metadata_with_octet_stream_pixel_data(stack: Stack) -> None:
    ds = instances.fresh()
    pixels = ({"Content-Type": "application/octet-stream", "Content-Location": _pixel_uri(ds)},
              ds.PixelData)  # fmt: skip
    metadata = ({"Content-Type": "application/dicom+json"}, orjson.dumps([_metadata(ds)]))
    response = _store(stack, "application/dicom+json", [metadata, pixels])
    assert response.status_code == 200, response.text
    stored = _retrieve(stack, ds)
    assert stored.PatientID == ds.PatientID
    assert np.array_equal(stored.pixel_array, ds.pixel_array)


def test_xml_metadata_with_a_jpeg_frame(stack: Stack) -> None:
    ds = instances.fresh("SC_rgb_jpeg_dcmtk.dcm")
    [frame] = list(generate_frames(ds.PixelData, number_of_frames=1))
    meta = _metadata(ds)
    meta["7FE00010"] = {"vr": "OB", "BulkDataURI": "cid:frame-1"}
    metadata = ({"Content-Type": "application/dicom+xml"}, dicomjson.to_native_xml(meta))
    jpeg = ({"Content-Type": "image/jpeg", "Content-ID": "<frame-1>"}, frame)
    response = _store(stack, "application/dicom+xml", [metadata, jpeg])
    assert response.status_code == 200, response.text
    stored = _retrieve(stack, ds)
    assert stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert list(generate_frames(stored.PixelData, number_of_frames=1)) == [frame]


def test_missing_bulk_part_fails_only_its_instance(stack: Stack) -> None:
    good, orphan = instances.fresh(), instances.fresh()
    metadata = ({"Content-Type": "application/dicom+json"},
                orjson.dumps([_metadata(good), _metadata(orphan)]))  # fmt: skip
    pixels = ({"Content-Type": "application/octet-stream", "Content-Location": _pixel_uri(good)},
              good.PixelData)  # fmt: skip
    response = _store(stack, "application/dicom+json", [metadata, pixels])
    assert response.status_code == 202, response.text
    [failed] = response.json()[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS]
    assert failed["00081155"]["Value"] == [orphan.SOPInstanceUID]
    [referenced] = response.json()[REFERENCED]["Value"]
    assert referenced["00081155"]["Value"] == [good.SOPInstanceUID]


@pytest.mark.parametrize(
    ("root", "document"),
    [("application/dicom+json", b"[{broken"), ("application/dicom+xml", b"<NativeDicomModel>")],
)
def test_unreadable_metadata_is_a_c000_failure(stack: Stack, root: str, document: bytes) -> None:
    response = _store(stack, root, [({"Content-Type": root}, document)])
    assert response.status_code == 409, response.text
    [failed] = response.json()[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [FailureReason.CANNOT_UNDERSTAND]


def test_other_multipart_types_are_still_415(stack: Stack) -> None:
    response = _store(stack, "text/plain", [({"Content-Type": "text/plain"}, b"hello")])
    assert response.status_code == 415


def test_xml_metadata_with_entity_declarations_in_utf_16_is_refused(stack: Stack) -> None:
    """A regex on the raw bytes misses ``<!ENTITY`` in UTF-16; the parser itself must refuse."""
    ds = instances.fresh()
    meta = _metadata(ds)
    del meta["7FE00010"]
    patient_id = meta["00100020"]["Value"][0]
    text = dicomjson.to_native_xml(meta).decode()
    declarations = '<!DOCTYPE NativeDicomModel [<!ENTITY a "AAAAAAAAAA">]>\n'
    text = text.replace("<NativeDicomModel", declarations + "<NativeDicomModel", 1)
    text = text.replace(f">{patient_id}<", ">&a;&a;<", 1)
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    root = "application/dicom+xml"
    response = _store(stack, root, [({"Content-Type": root}, text.encode("utf-16"))])
    assert response.status_code == 409, response.text
    [failed] = response.json()[FAILED]["Value"]
    assert failed[FAILURE_REASON]["Value"] == [FailureReason.CANNOT_UNDERSTAND]
    search = httpx.get(
        f"{stack.dicomweb_url}/studies", params={"StudyInstanceUID": ds.StudyInstanceUID}
    )
    assert search.status_code == 204
