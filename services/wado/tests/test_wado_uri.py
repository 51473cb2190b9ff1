"""WADO-URI parameters (PS3.18 §9): parsing, the default media type per object, and the 400s
that name the parameter at fault — all before any byte is read."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom import uid
from starlette.datastructures import QueryParams

from dicomcommon.errors import DicomwebError, NotAcceptable
from wado import wado_uri
from wado.index import InstanceDetail, StoredInstance
from wado.voi import Window
from wado.wado_uri import UriRequest

UIDS = "requestType=WADO&studyUID=1.2.3&seriesUID=1.2.3.4&objectUID=1.2.3.4.5"


def _request(extra: str = "") -> UriRequest:
    return UriRequest.of(QueryParams(f"{UIDS}&{extra}" if extra else UIDS))


def _detail(
    sop_class: str = uid.CTImageStorage,
    frames: int | None = 1,
    pixels: bool = True,
    metadata: dict[str, Any] | None = None,
) -> InstanceDetail:
    instance = StoredInstance(
        "1.2.3",
        "1.2.3.4",
        "1.2.3.4.5",
        sop_class,
        uid.ExplicitVRLittleEndian,
        "blob",
        1000,
        frames,
        64 if pixels else None,
        1,
    )
    return InstanceDetail(instance, [], {}, metadata or {})


def _negotiated(extra: str, detail: InstanceDetail) -> str:
    wanted = _request(extra)
    media_type = wado_uri.content_type(wanted, detail)
    wado_uri.check_fits(wanted, detail, media_type)
    return media_type


def _rejected(extra: str, detail: InstanceDetail | None = None) -> str:
    with pytest.raises(DicomwebError) as caught:
        _negotiated(extra, detail or _detail())
    assert caught.value.status == 400
    return caught.value.message


def test_all_parameters_parse() -> None:
    wanted = _request(
        "contentType=image/png&frameNumber=2&rows=100&columns=50&region=0,0.25,0.5,1"
        "&windowCenter=40&windowWidth=400&imageQuality=70&charset=UTF-8"
    )
    assert wanted.content_types == ("image/png",)
    assert wanted.frame_number == 2
    assert wanted.render.viewport == (50, 100)
    assert wanted.render.region == (0.0, 0.25, 0.5, 1.0)
    assert wanted.render.window == Window(40.0, 400.0)
    assert wanted.render.quality == 70


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("studyUID=1.2&seriesUID=1.3&objectUID=1.4", "requestType"),
        ("requestType=WADO&seriesUID=1.3&objectUID=1.4", "studyUID"),
        ("requestType=WADO&studyUID=1.2&objectUID=1.4", "seriesUID"),
        ("requestType=WADO&studyUID=1.2&seriesUID=1.3", "objectUID"),
        ("requestType=WADO&studyUID=1.2&seriesUID=1.3&objectUID=../etc", "objectUID"),
        ("requestType=WADO&studyUID=1.2&studyUID=1.5&seriesUID=1.3&objectUID=1.4", "studyUID"),
        ("requestType=QIDO&studyUID=1.2&seriesUID=1.3&objectUID=1.4", "requestType"),
    ],
)
def test_missing_or_malformed_identification_is_a_400_naming_it(query: str, named: str) -> None:
    with pytest.raises(DicomwebError) as caught:
        UriRequest.of(QueryParams(query))
    assert caught.value.status == 400
    assert named in caught.value.message


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("contentType=jpeg", "contentType"),
        ("contentType=image/jpeg;q=2", "contentType"),
        ("frameNumber=0", "frameNumber"),
        ("frameNumber=x", "frameNumber"),
        ("rows=-5", "rows"),
        ("columns=1.5", "columns"),
        ("region=0,0,1", "region"),
        ("region=0.5,0,0.2,1", "region"),
        ("region=0,0,1,2", "region"),
        ("windowCenter=40", "windowWidth"),
        ("windowCenter=40&windowWidth=abc", "windowWidth"),
        ("windowCenter=nan&windowWidth=10", "windowCenter"),
        ("windowCenter=40&windowWidth=0", "windowWidth"),
        ("imageQuality=101", "imageQuality"),
        ("transferSyntax=1.2.840.10008.5.1.4.1.1.2", "transferSyntax"),
        ("anonymize=no", "anonymize"),
        ("charset=utf 8", "charset"),
    ],
)
def test_malformed_parameter_is_a_400_naming_it(extra: str, named: str) -> None:
    with pytest.raises(DicomwebError) as caught:
        _request(extra)
    assert caught.value.status == 400
    assert named in caught.value.message


def test_single_frame_image_defaults_to_jpeg() -> None:
    assert _negotiated("", _detail()) == "image/jpeg"


def test_multiframe_image_defaults_to_dicom_unless_a_frame_is_picked() -> None:
    assert _negotiated("", _detail(frames=10)) == "application/dicom"
    assert _negotiated("frameNumber=3", _detail(frames=10)) == "image/jpeg"
    assert _negotiated("rows=64", _detail(frames=10)) == "image/jpeg"


def test_encapsulated_documents_default_to_their_own_type() -> None:
    pdf = _detail(uid.EncapsulatedPDFStorage, None, pixels=False)
    cda = _detail(uid.EncapsulatedCDAStorage, None, pixels=False)
    assert _negotiated("", pdf) == "application/pdf"
    assert _negotiated("", cda) == "text/xml"
    assert _negotiated("contentType=application/dicom", pdf) == "application/dicom"


def test_other_objects_default_to_dicom() -> None:
    sr = _detail(uid.BasicTextSRStorage, None, pixels=False)
    assert _negotiated("", sr) == "application/dicom"
    assert _negotiated("contentType=*/*", sr) == "application/dicom"


def test_content_type_list_takes_the_first_available() -> None:
    assert _negotiated("contentType=image/webp,image/png", _detail()) == "image/png"
    assert _negotiated("contentType=image/gif;q=0.5,image/png", _detail()) == "image/png"
    assert _negotiated("contentType=image/*", _detail()) == "image/jpeg"


def test_content_type_the_object_lacks_is_not_acceptable() -> None:
    sr = _detail(uid.BasicTextSRStorage, None, pixels=False)
    with pytest.raises(NotAcceptable, match="contentType image/jpeg"):
        _negotiated("contentType=image/jpeg", sr)


@pytest.mark.parametrize(
    "extra",
    [
        "contentType=application/dicom&rows=10",
        "contentType=application/dicom&frameNumber=1",
        "contentType=application/dicom&windowCenter=1&windowWidth=2",
        "contentType=application/dicom&region=0,0,1,1",
        "contentType=application/dicom&imageQuality=50",
    ],
)
def test_rendering_parameters_with_dicom_are_a_400(extra: str) -> None:
    named = extra.split("&")[1].split("=")[0]
    assert named in _rejected(extra)


def test_transfer_syntax_with_a_rendered_type_is_a_400() -> None:
    assert "transferSyntax" in _rejected(
        "contentType=image/jpeg&transferSyntax=1.2.840.10008.1.2.1"
    )


def test_frame_beyond_the_last_is_a_400() -> None:
    assert "frameNumber" in _rejected("frameNumber=11", _detail(frames=10))


def test_rendering_parameters_on_a_document_are_a_400() -> None:
    pdf = _detail(uid.EncapsulatedPDFStorage, None, pixels=False)
    assert "rows" in _rejected("rows=10", pdf)


def test_anonymize_is_a_parameter_of_dicom_only() -> None:
    assert _request("anonymize=yes").anonymize
    assert "anonymize" in _rejected("contentType=image/jpeg&anonymize=yes", _detail())
