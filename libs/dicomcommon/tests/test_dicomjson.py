"""DICOM JSON helpers: dictionary look-ups, levels, Native DICOM Model XML."""

from __future__ import annotations

from xml.etree import ElementTree

from dicomcommon.dicom.dicomjson import Attribute, Level, element, lookup, to_native_xml


def test_lookup_by_keyword_and_tag() -> None:
    assert lookup("PatientName") == Attribute("00100010", "PatientName", "PN")
    assert lookup("0020000d") == Attribute("0020000D", "StudyInstanceUID", "UI")
    assert lookup("00091001") == Attribute("00091001", "", "UN")  # private
    assert lookup("NotAKeyword") is None


def test_levels_follow_the_information_model() -> None:
    assert lookup("PatientID") is not None and lookup("PatientID").level == Level.STUDY  # type: ignore[union-attr]
    assert lookup("Modality").level == Level.SERIES  # type: ignore[union-attr]
    assert lookup("Rows").level == Level.INSTANCE  # type: ignore[union-attr]


def test_native_xml_renders_names_sequences_and_bulk_data() -> None:
    dataset = {
        "00100010": element("PN", {"Alphabetic": "Doe^John^^Dr"}),
        "00081032": element("SQ", {"00080100": element("SH", "X1")}),
        "7FE00010": {"vr": "OW", "BulkDataURI": "http://x/bulk"},
        "00280010": element("US", 512),
        "00080090": element("PN"),
    }
    root = ElementTree.fromstring(to_native_xml(dataset))
    name = root.find("DicomAttribute[@tag='00100010']/PersonName/Alphabetic")
    assert name is not None
    assert name.findtext("FamilyName") == "Doe" and name.findtext("NamePrefix") == "Dr"
    item = root.find("DicomAttribute[@tag='00081032']/Item[@number='1']")
    assert item is not None and item.findtext("DicomAttribute/Value") == "X1"
    assert root.find("DicomAttribute[@tag='7FE00010']/BulkData").get("uri") == "http://x/bulk"  # type: ignore[union-attr]
    assert root.findtext("DicomAttribute[@tag='00280010']/Value") == "512"
    assert [a.get("tag") for a in root] == sorted(dataset)
