"""WADO-URI ``anonymize=yes`` (PS3.18 §9.4.1): which objects may be released under the Basic
Profile with Clean Pixel Data, and what the released file looks like."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file

from wado import anonymized
from wado.index import InstanceDetail, StoredInstance


def _detail(
    metadata: dict[str, Any], pixels: bool = True, bulk: dict[str, list[int]] | None = None
) -> InstanceDetail:
    instance = StoredInstance(
        "1.2.3",
        "1.2.3.4",
        "1.2.3.4.5",
        uid.MRImageStorage,
        uid.ExplicitVRLittleEndian,
        "blob",
        1000,
        1,
        64 if pixels else None,
        1,
    )
    return InstanceDetail(instance, [], bulk or {}, metadata)


_NO = {"00280301": {"vr": "CS", "Value": ["NO"]}}


def test_image_declaring_no_burned_in_annotation_is_released() -> None:
    anonymized.check_releasable(_detail(_NO), is_document=False)
    anonymized.check_releasable(_detail({}, pixels=False), is_document=False)


@pytest.mark.parametrize(
    "detail",
    [
        _detail({}),  # Burned In Annotation unknown
        _detail({"00280301": {"vr": "CS", "Value": ["YES"]}}),
        _detail(_NO, bulk={"60003000": [100, 512]}),  # overlay data
    ],
)
def test_image_whose_pixels_may_identify_is_a_conflict(detail: InstanceDetail) -> None:
    with pytest.raises(anonymized.PixelsMayIdentify) as raised:
        anonymized.check_releasable(detail, is_document=False)
    assert raised.value.status == 409


def test_encapsulated_document_is_a_conflict() -> None:
    with pytest.raises(anonymized.PixelsMayIdentify):
        anonymized.check_releasable(_detail({}, pixels=False), is_document=True)


def test_released_file_is_de_identified_with_stable_new_uids() -> None:
    path = get_testdata_file("emri_small.dcm")
    assert path is not None
    data = Path(path).read_bytes()
    first = pydicom.dcmread(io.BytesIO(anonymized.anonymized(data, None, "secret")))
    again = pydicom.dcmread(
        io.BytesIO(anonymized.anonymized(data, uid.ImplicitVRLittleEndian, "secret"))
    )
    original = pydicom.dcmread(path)
    assert first.PatientIdentityRemoved == "YES"
    assert first.SOPInstanceUID != original.SOPInstanceUID
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert again.file_meta.TransferSyntaxUID == uid.ImplicitVRLittleEndian
    codes = [item.CodeValue for item in first.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101"]
    assert first.PixelData == original.PixelData
