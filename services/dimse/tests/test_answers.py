"""C-FIND answers encoded from DICOM JSON (``dimse.answers``): byte for byte what pydicom
writes for the same answer, in both little endian syntaxes; anything else left to pydicom."""

from __future__ import annotations

from typing import Any

import pynetdicom.service_class
import pytest
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode

from dimse.answers import EncodedAnswer, answer, encoded, install

UTF8 = {"00080005": {"vr": "CS", "Value": ["ISO_IR 192"]}}
ANSWERS: list[dict[str, Any]] = [
    {
        "00080052": {"vr": "CS", "Value": ["STUDY"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.840.113619.2.1"]},  # odd: NUL padded
        "00100020": {"vr": "LO", "Value": ["PID-7"]},  # odd: space padded
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN"}]},
        "00080020": {"vr": "DA", "Value": ["20240101"]},
        "00080061": {"vr": "CS", "Value": ["CT", "MR"]},  # multi-valued
        "00201206": {"vr": "IS", "Value": [3]},
        "00081030": {"vr": "LO"},  # asked for, empty
    },
    {**UTF8, "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Ünal^Ç", "Ideographic": "山田"}]}},
    {
        "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
        "00081030": {"vr": "LO", "Value": ["Tête"]},
    },
    {"00080050": {"vr": "SH", "Value": ["A1"]}, "00204000": {"vr": "LT", "Value": ["long text"]}},
]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("document", ANSWERS)
def test_the_bytes_are_pydicoms(document: dict[str, Any], implicit: bool) -> None:
    expected = encode(Dataset.from_json(document), implicit, True)
    assert encoded(document, implicit) == expected
    sent = answer(document, implicit)
    assert isinstance(sent, EncodedAnswer)


@pytest.mark.parametrize(
    "document",
    [
        {"00081032": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["X"]}}]}},
        {"00101020": {"vr": "DS", "Value": [1.75]}},
        {"00080005": {"vr": "CS", "Value": ["ISO_IR 144"]}, "00100010": {"vr": "LO"}},
        {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Ünal"}]}},  # no charset: ASCII
    ],
)
def test_anything_else_is_left_to_pydicom(document: dict[str, Any]) -> None:
    assert encoded(document, False) is None
    sent = answer(document, False)
    assert not isinstance(sent, EncodedAnswer)
    assert encode(sent, False, True) == encode(Dataset.from_json(document), False, True)


def test_pynetdicom_sends_the_bytes_or_encodes_them_again_for_another_syntax() -> None:
    install()
    install()  # once is enough
    document = ANSWERS[0]
    sent = answer(document, implicit=False)
    assert pynetdicom.service_class.encode(sent, False, True) == encoded(document, False)
    again = pynetdicom.service_class.encode(sent, True, True)
    assert again == encode(Dataset.from_json(document), True, True)
