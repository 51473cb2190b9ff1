"""WADO-RS through the gateway against the real stack: instances stored by the real STOW are
retrieved at once (read your writes), byte for byte, transcoded, as metadata, frames and bulk
data, with dicomweb-client's default requests and with raw HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicomstack.stack import Stack

pytestmark = pytest.mark.integration

EVRLE = "1.2.840.10008.1.2.1"
_BOUNDARY = "wado-test-boundary"
# Explicit VR LE, RLE Lossless, multi-frame JPEG 2000 Lossless, Implicit VR LE, JPEG Baseline.
_FILES = (
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "MR_small_implicit.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
)


@dataclass(frozen=True)
class Stored:
    study: str
    series: str
    datasets: dict[str, bytes]  # file name -> the stored Part 10 bytes

    def url(self, root: str, name: str) -> str:
        sop = pydicom.dcmread(io.BytesIO(self.datasets[name])).SOPInstanceUID
        return f"{root}/studies/{self.study}/series/{self.series}/instances/{sop}"


def _fresh(name: str, study: str, series: str) -> bytes:
    path = get_testdata_file(name)
    assert isinstance(path, str)
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _multipart(parts: list[bytes]) -> bytes:
    head = f"--{_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    return b"".join(head + p + b"\r\n" for p in parts) + f"--{_BOUNDARY}--\r\n".encode()


@pytest.fixture(scope="module")
def stored(stack: Stack) -> Iterator[Stored]:
    study, series = generate_uid(), generate_uid()
    datasets = {name: _fresh(name, study, series) for name in _FILES}
    response = httpx.post(
        f"{stack.dicomweb_url}/studies",
        content=_multipart(list(datasets.values())),
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={_BOUNDARY}'
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    yield Stored(study, series, datasets)


@pytest.fixture(scope="module")
def client(stack: Stack) -> DICOMwebClient:
    return DICOMwebClient(stack.dicomweb_url)


def _parts(response: httpx.Response) -> list[bytes]:
    boundary = response.headers["content-type"].split("boundary=")[1].strip('"')
    body = response.content.split(f"--{boundary}--".encode())[0]
    chunks = body.split(f"--{boundary}\r\n".encode())[1:]
    return [c.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for c in chunks]


def _pixels(data: bytes) -> np.ndarray[Any, Any]:
    return pydicom.dcmread(io.BytesIO(data)).pixel_array


def test_transfer_syntax_star_returns_the_stored_bytes(stack: Stack, stored: Stored) -> None:
    for name, data in stored.datasets.items():
        url = stored.url(stack.dicomweb_url, name)
        single = httpx.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert single.status_code == 200 and single.content == data, name
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        assert _parts(httpx.get(url, headers={"Accept": accept})) == [data], name


def test_stored_bytes_come_with_their_exact_length_and_transcoded_ones_chunked(
    stack: Stack, stored: Stored
) -> None:
    """As stored, the index knows every size: the answer has a Content-Length (no chunk
    framing); a conversion's size is known only once done, so that answer is chunked."""
    series = f"{stack.dicomweb_url}/studies/{stored.study}/series/{stored.series}"
    as_stored = httpx.get(
        series, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
    )
    assert as_stored.status_code == 200
    assert int(as_stored.headers["content-length"]) == len(as_stored.content)
    assert sorted(_parts(as_stored)) == sorted(stored.datasets.values())
    converted = httpx.get(
        series, headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=60
    )
    assert converted.status_code == 200
    assert "content-length" not in converted.headers
    assert converted.headers["transfer-encoding"] == "chunked"


def test_dicomweb_client_default_retrieve_gets_the_stored_instance(
    client: DICOMwebClient, stored: Stored
) -> None:
    """dicomweb-client asks for ``transfer-syntax=*`` by default."""
    for name, data in stored.datasets.items():
        sop = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
        ds: Dataset = client.retrieve_instance(stored.study, stored.series, sop)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        assert out.getvalue() == data, name


def test_explicit_vr_little_endian_is_the_default_syntax(stack: Stack, stored: Stored) -> None:
    """No transfer-syntax parameter: Explicit VR Little Endian (PS3.18 §8.7.3.5.2)."""
    for name, data in stored.datasets.items():
        url = stored.url(stack.dicomweb_url, name)
        accept = 'multipart/related; type="application/dicom"'
        [part] = _parts(httpx.get(url, headers={"Accept": accept}, timeout=30))
        ds = pydicom.dcmread(io.BytesIO(part))
        assert ds.file_meta.TransferSyntaxUID == EVRLE, name
        if name != "SC_rgb_jpeg_dcmtk.dcm":  # lossy YBR: decoders may differ by one
            assert np.array_equal(ds.pixel_array, _pixels(data)), name


def test_series_and_study_stream_every_instance(client: DICOMwebClient, stored: Stored) -> None:
    expected = {pydicom.dcmread(io.BytesIO(d)).SOPInstanceUID for d in stored.datasets.values()}
    series = client.retrieve_series(stored.study, stored.series)
    study = client.retrieve_study(stored.study)
    assert {ds.SOPInstanceUID for ds in series} == expected
    assert {ds.SOPInstanceUID for ds in study} == expected


def test_transcoding_to_jpeg_2000_lossless_keeps_the_pixels(stack: Stack, stored: Stored) -> None:
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
    url = stored.url(stack.dicomweb_url, "CT_small.dcm")
    [part] = _parts(httpx.get(url, headers={"Accept": accept}, timeout=30))
    ds = pydicom.dcmread(io.BytesIO(part))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert np.array_equal(ds.pixel_array, _pixels(stored.datasets["CT_small.dcm"]))


def test_metadata_has_resolving_bulk_data_uris_and_an_etag(
    stack: Stack, client: DICOMwebClient, stored: Stored
) -> None:
    study = client.retrieve_study_metadata(stored.study)
    assert len(study) == len(_FILES)
    url = stored.url(stack.dicomweb_url, "CT_small.dcm")
    response = httpx.get(f"{url}/metadata", headers={"Accept": "application/dicom+json"})
    [instance] = response.json()
    pixel_uri = instance["7FE00010"]["BulkDataURI"]
    assert pixel_uri.startswith(stack.dicomweb_url.split("/dicom-web")[0])
    raw = httpx.get(pixel_uri, headers={"Accept": "application/octet-stream"})
    assert raw.content == _pixels(stored.datasets["CT_small.dcm"]).tobytes()
    ranged = httpx.get(
        pixel_uri, headers={"Accept": "application/octet-stream", "Range": "bytes=0-9"}
    )
    assert ranged.status_code == 206 and ranged.content == raw.content[:10]
    again = httpx.get(f"{url}/metadata", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_frames_come_by_byte_range_in_stored_or_native_form(
    stack: Stack, client: DICOMwebClient, stored: Stored
) -> None:
    data = stored.datasets["emri_small_jpeg_2k_lossless.dcm"]
    original = pydicom.dcmread(io.BytesIO(data))
    frames = client.retrieve_instance_frames(
        stored.study, stored.series, original.SOPInstanceUID, [1, 3]
    )
    assert [f[:4] for f in frames] == [b"\xff\x4f\xff\x51"] * 2  # JPEG 2000 codestreams
    url = stored.url(stack.dicomweb_url, "emri_small_jpeg_2k_lossless.dcm")
    native = httpx.get(f"{url}/frames/3", headers={"Accept": "application/octet-stream"})
    assert native.status_code == 200
    assert native.content == original.pixel_array[2].astype("<u2").tobytes()


@pytest.mark.parametrize(
    ("path", "accept", "status"),
    [
        ("/studies/1.2.3.999999", "*/*", 404),
        ("/studies/1.2.x", "*/*", 400),
        ("/studies/{study}", "text/html", 406),
        ("/studies/{study}/series/{series}/instances/{sop}/frames/99", "*/*", 404),
        ("/studies/{study}/series/{series}/instances/{sop}/frames/a", "*/*", 400),
        ("/studies/{study}/series/{series}/instances/{sop}/bulkdata/00000000", "*/*", 404),
    ],
)
def test_bad_requests_get_clear_client_errors(
    stack: Stack, stored: Stored, path: str, accept: str, status: int
) -> None:
    sop = pydicom.dcmread(io.BytesIO(stored.datasets["CT_small.dcm"])).SOPInstanceUID
    url = stack.dicomweb_url + path.format(study=stored.study, series=stored.series, sop=sop)
    assert httpx.get(url, headers={"Accept": accept}).status_code == status


@pytest.mark.parametrize(
    ("accept", "magic"), [("image/jpeg", b"\xff\xd8"), ("image/png", b"\x89PNG")]
)
def test_rendered_and_thumbnail_are_consumer_images(
    stack: Stack, stored: Stored, accept: str, magic: bytes
) -> None:
    for name in ("CT_small.dcm", "emri_small_jpeg_2k_lossless.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        url = stored.url(stack.dicomweb_url, name)
        for path in ("/rendered?window=40,400", "/thumbnail", "/frames/1/rendered"):
            response = httpx.get(url + path, headers={"Accept": accept}, timeout=30)
            assert response.status_code == 200, (name, path, response.text)
            assert response.content.startswith(magic), (name, path)


def test_study_metadata_read_again_follows_a_new_instance(stack: Stack) -> None:
    """The second read may come from the metadata cache; a store changes the ETag, so the
    third read sees the new instance."""
    study, series = generate_uid(), generate_uid()
    url = f"{stack.dicomweb_url}/studies/{study}"

    def store() -> None:
        body = _fresh("CT_small.dcm", study, series)
        headers = {"Content-Type": "application/dicom"}
        assert (
            httpx.post(f"{stack.dicomweb_url}/studies", content=body, headers=headers).status_code
            == 200
        )

    store()
    first, again = httpx.get(f"{url}/metadata"), httpx.get(f"{url}/metadata")
    assert first.content == again.content and len(again.json()) == 1
    store()
    after = httpx.get(f"{url}/metadata")
    assert len(after.json()) == 2 and after.headers["etag"] != first.headers["etag"]
