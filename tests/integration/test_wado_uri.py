"""WADO-URI (PS3.18 §9) through the gateway against the real stack: objects stored by the real
STOW come back as JPEG / PNG / GIF, as DICOM in the asked transfer syntax, and encapsulated
PDFs as the PDF itself; bad parameters are 400s naming them, unknown UIDs 404."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration


def tiny_pdf(padding: int = 0) -> bytes:
    """A one-page PDF; ``padding`` bytes of comment make it odd-sized or large."""
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
    )
    return body + b"%" + b"x" * padding + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def encapsulated_pdf(study: str, series: str, pdf: bytes) -> Dataset:
    """An Encapsulated PDF Storage instance (PS3.3 A.45.1) wrapping ``pdf``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.Modality = "PDF^Test", "PID-PDF", "DOC"
    ds.InstanceNumber = 1
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + b"\0" * (len(pdf) % 2)  # padded to even length
    return ds


@dataclass(frozen=True)
class Objects:
    study: str
    series: str
    sop: dict[str, str]  # name -> SOP Instance UID
    pdf: dict[str, bytes]  # name -> the PDF inside

    def query(self, name: str, extra: str = "") -> str:
        uids = f"studyUID={self.study}&seriesUID={self.series}&objectUID={self.sop[name]}"
        return f"requestType=WADO&{uids}" + (f"&{extra}" if extra else "")


@pytest.fixture(scope="module")
def objects(stack: Stack) -> Iterator[Objects]:
    study, series = generate_uid(), generate_uid()
    datasets = {
        "ct": instances.fresh("CT_small.dcm", study, series),
        "multiframe": instances.fresh("emri_small_jpeg_2k_lossless.dcm", study, series),
        "sr": instances.fresh("test-SR.dcm", study, series),
    }
    pdf = {"pdf": tiny_pdf(4000), "small_pdf": tiny_pdf(1)}  # bulk data, and inline
    for name, document in pdf.items():
        datasets[name] = encapsulated_pdf(study, series, document)
    for ds in datasets.values():
        response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
        assert response.status_code == 200, response.text
    yield Objects(study, series, {n: d.SOPInstanceUID for n, d in datasets.items()}, pdf)


def _get(stack: Stack, query: str) -> httpx.Response:
    return httpx.get(f"{stack.gateway_url}/wado?{query}", timeout=30)


def _image(response: httpx.Response, media_type: str) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    return Image.open(io.BytesIO(response.content))


def test_single_frame_image_defaults_to_jpeg(stack: Stack, objects: Objects) -> None:
    image = _image(_get(stack, objects.query("ct")), "image/jpeg")
    assert image.format == "JPEG"
    assert image.size == (128, 128)


def test_png_and_gif_scaled_cut_and_windowed(stack: Stack, objects: Objects) -> None:
    png = _image(_get(stack, objects.query("ct", "contentType=image/png&rows=64")), "image/png")
    assert png.size == (64, 64)
    region = "contentType=image/png&region=0,0,0.5,0.25"
    assert _image(_get(stack, objects.query("ct", region)), "image/png").size == (64, 32)
    gif = _image(_get(stack, objects.query("ct", "contentType=image/gif")), "image/gif")
    assert gif.format == "GIF"
    narrow = "contentType=image/png&windowCenter=100&windowWidth=10"
    wide = "contentType=image/png&windowCenter=100&windowWidth=4000"
    first = np.asarray(_image(_get(stack, objects.query("ct", narrow)), "image/png"))
    second = np.asarray(_image(_get(stack, objects.query("ct", wide)), "image/png"))
    assert not np.array_equal(first, second)


def test_dicom_comes_in_explicit_vr_little_endian_or_the_asked_syntax(
    stack: Stack, objects: Objects
) -> None:
    default = _get(stack, objects.query("multiframe", "contentType=application/dicom"))
    assert default.status_code == 200, default.text
    assert default.headers["content-type"].startswith("application/dicom")
    ds = pydicom.dcmread(io.BytesIO(default.content))
    assert ds.SOPInstanceUID == objects.sop["multiframe"]
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    asked = f"contentType=application/dicom&transferSyntax={ImplicitVRLittleEndian}"
    implicit = pydicom.dcmread(io.BytesIO(_get(stack, objects.query("ct", asked)).content))
    assert implicit.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian


def test_multiframe_defaults_to_dicom_and_renders_a_picked_frame(
    stack: Stack, objects: Objects
) -> None:
    whole = _get(stack, objects.query("multiframe"))
    assert whole.headers["content-type"].startswith("application/dicom")
    frame = _image(_get(stack, objects.query("multiframe", "frameNumber=3")), "image/jpeg")
    assert frame.size == (64, 64)
    beyond = _get(stack, objects.query("multiframe", "frameNumber=11"))
    assert beyond.status_code == 400
    assert "frameNumber" in beyond.text


@pytest.mark.parametrize("name", ["pdf", "small_pdf"])
def test_encapsulated_pdf_is_returned_as_the_pdf(stack: Stack, objects: Objects, name: str) -> None:
    response = _get(stack, objects.query(name))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == objects.pdf[name]
    wrapped = _get(stack, objects.query(name, "contentType=application/dicom"))
    assert pydicom.dcmread(io.BytesIO(wrapped.content)).SOPInstanceUID == objects.sop[name]


def test_structured_report_defaults_to_dicom(stack: Stack, objects: Objects) -> None:
    response = _get(stack, objects.query("sr"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom")
    assert _get(stack, objects.query("sr", "contentType=image/jpeg")).status_code == 406


def test_head_answers_like_get_without_a_body(stack: Stack, objects: Objects) -> None:
    response = httpx.head(f"{stack.gateway_url}/wado?{objects.query('pdf')}", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == b""


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("rows=abc", "rows"),
        ("contentType=application/dicom&windowCenter=1&windowWidth=2", "windowCenter"),
        ("contentType=image/jpeg&transferSyntax=1.2.840.10008.1.2", "transferSyntax"),
        ("region=1,1,0,0", "region"),
        ("imageQuality=0", "imageQuality"),
    ],
)
def test_bad_parameters_are_400s_naming_them(
    stack: Stack, objects: Objects, extra: str, named: str
) -> None:
    response = _get(stack, objects.query("ct", extra))
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_missing_and_malformed_uids_are_400_unknown_ones_404(
    stack: Stack, objects: Objects
) -> None:
    missing = _get(stack, f"requestType=WADO&studyUID={objects.study}&objectUID=1.2.3")
    assert missing.status_code == 400
    assert "seriesUID" in missing.json()["error"]
    malformed = objects.query("ct").replace(objects.sop["ct"], "1.2.x")
    assert _get(stack, malformed).status_code == 400
    unknown = objects.query("ct").replace(objects.sop["ct"], generate_uid())
    assert _get(stack, unknown).status_code == 404
    assert _get(stack, objects.query("ct").replace("WADO", "WADOX")).status_code == 400


def test_anonymize_releases_an_image_without_burned_in_annotation(
    stack: Stack, objects: Objects
) -> None:
    query = objects.query("multiframe", "contentType=application/dicom&anonymize=yes")
    response = _get(stack, query)
    assert response.status_code == 200, response.text
    ds = pydicom.dcmread(io.BytesIO(response.content))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.SOPInstanceUID != objects.sop["multiframe"]
    assert ds.StudyInstanceUID != objects.study
    again = pydicom.dcmread(io.BytesIO(_get(stack, query).content))
    assert again.SOPInstanceUID == ds.SOPInstanceUID  # one secret: stable replacement
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


@pytest.mark.parametrize("name", ["ct", "pdf"])
def test_anonymize_refuses_objects_whose_content_may_identify(
    stack: Stack, objects: Objects, name: str
) -> None:
    response = _get(stack, objects.query(name, "contentType=application/dicom&anonymize=yes"))
    assert response.status_code == 409
    assert "anonymize" in response.json()["error"]
