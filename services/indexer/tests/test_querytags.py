"""The rules of a ``POST /extendedquerytags`` body, as Microsoft's DICOM server states them:
standard attributes take their dictionary VR, private ones need theirs and their creator."""

from __future__ import annotations

import orjson
import pytest

from dicomcommon.errors import Conflict, DicomwebError
from indexer.querytags import MAX_TAGS, NewTag, parse_new_tags, tag_path


def _parse(*tags: dict[str, str]) -> list[NewTag]:
    return parse_new_tags(orjson.dumps(list(tags)))


def test_standard_and_private_tags_are_read_with_any_key_case() -> None:
    found = _parse(
        {"Path": "ManufacturerModelName", "VR": "LO", "Level": "series"},
        {"path": "04011001", "vr": "SS", "privateCreator": "MicrosoftPC", "level": "Instance"},
    )
    assert found == [
        NewTag("00081090", "LO", None, "Series"),
        NewTag("04011001", "SS", "MicrosoftPC", "Instance"),
    ]


@pytest.mark.parametrize(
    "tag",
    [
        {"path": "04011001", "vr": "SS", "level": "Instance"},  # no creator
        {"path": "04010010", "vr": "LO", "privateCreator": "X", "level": "Instance"},  # creator
        {"path": "04011001", "privateCreator": "X", "level": "Instance"},  # no VR
        {"path": "04011001", "vr": "SQ", "privateCreator": "X", "level": "Instance"},
        {"path": "PatientAge", "privateCreator": "X", "level": "Study"},
        {"path": "00100000", "level": "Study"},  # a group length
        {"path": "NotAKeyword", "level": "Study"},
        {"path": "PatientAge", "level": ""},
    ],
)
def test_bad_entries_are_refused(tag: dict[str, str]) -> None:
    with pytest.raises(DicomwebError) as raised:
        _parse(tag)
    assert raised.value.status == 400


def test_an_attribute_searchable_anyway_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        _parse({"path": "PatientID", "level": "Study"})


def test_at_most_128_tags_and_no_repeats() -> None:
    many = [{"path": f"0009{0x1000 + i:04X}", "vr": "LO", "privateCreator": "A", "level": "Study"}
            for i in range(MAX_TAGS + 1)]  # fmt: skip
    with pytest.raises(DicomwebError, match="at most 128"):
        _parse(*many)
    with pytest.raises(DicomwebError, match="more than once"):
        _parse({"path": "PatientAge", "level": "Study"}, {"path": "00101010", "level": "Study"})


def test_a_tag_path_is_a_tag_or_a_keyword() -> None:
    assert tag_path("PatientAge") == tag_path("00101010") == "00101010"
    with pytest.raises(DicomwebError):
        tag_path("NoSuchKeyword")
