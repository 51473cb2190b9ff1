"""A C-FIND identifier as QIDO parameters: matching keys, return keys, levels."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset

from dicomcommon.dicom.dicomjson import Level
from dimse import statuses
from dimse.answers import EncodedAnswer
from dimse.find import Identifier, responses


def _read(answer: Dataset) -> Dataset:
    """An answer as the peer reads it: its bytes decoded (explicit VR little endian)."""
    if not isinstance(answer, EncodedAnswer):
        return answer
    data = answer.__dict__["_encoded"][1]
    return read_dataset(DicomBytesIO(data), is_implicit_VR=False, is_little_endian=True)


def _identifier(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def test_values_match_and_empty_keys_are_returned() -> None:
    ds = _identifier("IMAGE", PatientName="DOE*", SOPInstanceUID=["1.2.3", "1.2.4"], StudyDate="")
    identifier = Identifier.of(ds)
    assert identifier.level is Level.INSTANCE
    assert sorted(identifier.parameters) == [
        ("PatientName", "DOE*"),
        ("SOPInstanceUID", "1.2.3\\1.2.4"),
        ("includefield", "StudyDate"),
    ]
    assert identifier.returned == dict.fromkeys(("00100010", "00080018", "00080020"))


def test_patient_level_searches_studies() -> None:
    assert Identifier.of(_identifier("PATIENT", PatientID="X")).level is Level.STUDY


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="FRAME"):
        Identifier.of(_identifier("FRAME"))


def test_answers_carry_the_requested_keys_only() -> None:
    identifier = Identifier.of(_identifier("STUDY", PatientID="X", StudyInstanceUID=""))
    match = {
        "00100020": {"vr": "LO", "Value": ["X"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^J"}]},
    }
    answer = _read(identifier.answer(match))
    assert answer.PatientID == "X" and answer.StudyInstanceUID == "1.2.3"
    assert "PatientName" not in answer and answer.QueryRetrieveLevel == "STUDY"


def test_a_cancel_ends_the_matches() -> None:
    identifier = Identifier.of(_identifier("STUDY", StudyInstanceUID=""))
    matches = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{n}"]}} for n in range(3)]
    asked = iter([False, True])
    answered = list(responses(identifier, matches, lambda: next(asked)))
    assert [status for status, _ in answered] == [statuses.PENDING, statuses.CANCEL]


def test_without_a_cancel_every_match_then_success() -> None:
    identifier = Identifier.of(_identifier("STUDY", StudyInstanceUID=""))
    matches = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{n}"]}} for n in range(2)]
    answered = [status for status, _ in responses(identifier, matches, lambda: False)]
    assert answered == [statuses.PENDING, statuses.PENDING, statuses.SUCCESS]


def _code(**keys: str) -> Dataset:
    item = Dataset()
    for keyword, value in keys.items():
        setattr(item, keyword, value)
    return item


def test_a_sequence_item_matches_by_paths_and_names_the_keys_returned_inside() -> None:
    ds = _identifier("STUDY", StudyInstanceUID="")
    ds.ProcedureCodeSequence = [_code(CodeValue="CT-HEAD*", CodeMeaning="")]
    identifier = Identifier.of(ds)
    assert sorted(identifier.parameters) == [
        ("ProcedureCodeSequence.CodeValue", "CT-HEAD*"),
        ("includefield", "ProcedureCodeSequence"),
        ("includefield", "StudyInstanceUID"),
    ]
    stored_item = {
        "00080100": {"vr": "SH", "Value": ["CT-HEAD-1"]},
        "00080104": {"vr": "LO", "Value": ["Head"]},
        "00080102": {"vr": "SH", "Value": ["LOCAL"]},  # not asked for: left out
    }
    match = {
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00081032": {"vr": "SQ", "Value": [stored_item]},
    }
    [item] = identifier.answer(match).ProcedureCodeSequence
    assert item.CodeValue == "CT-HEAD-1" and item.CodeMeaning == "Head"
    assert "CodingSchemeDesignator" not in item


def test_a_sequence_key_has_at_most_one_item() -> None:
    ds = _identifier("STUDY")
    ds.ProcedureCodeSequence = [_code(CodeValue="A"), _code(CodeValue="B")]
    with pytest.raises(ValueError, match="one item"):
        Identifier.of(ds)
