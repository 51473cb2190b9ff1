"""Native DICOM Model XML (PS3.19 A.1) → DICOM JSON, round-tripped through our writer."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomcommon.dicom import dicomjson
from stow import nativexml

NS = 'xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM"'


def test_round_trip_of_a_real_header() -> None:
    path = get_testdata_file("MR_small.dcm")
    assert path is not None
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    meta = ds.to_json_dict(bulk_data_threshold=1 << 20)
    read = nativexml.read(dicomjson.to_native_xml(meta))
    rebuilt = pydicom.dataset.Dataset.from_json(read)
    for keyword in ("PatientName", "SOPInstanceUID", "Rows", "PixelSpacing", "ImageType"):
        assert rebuilt[keyword].value == ds[keyword].value, keyword


def test_person_name_sequence_bulk_and_inline() -> None:
    document = f"""<?xml version="1.0"?>
    <NativeDicomModel {NS}>
      <DicomAttribute tag="00100010" vr="PN"><PersonName number="1">
        <Alphabetic><FamilyName>Doe</FamilyName><GivenName>Jane</GivenName></Alphabetic>
      </PersonName></DicomAttribute>
      <DicomAttribute tag="00081140" vr="SQ"><Item number="1">
        <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.3</Value></DicomAttribute>
      </Item></DicomAttribute>
      <DicomAttribute tag="00280010" vr="US"><Value number="1">512</Value></DicomAttribute>
      <DicomAttribute tag="7FE00010" vr="OW"><BulkData uri="http://x/pixels"/></DicomAttribute>
      <DicomAttribute tag="00091010" vr="OB"><InlineBinary>AAE=</InlineBinary></DicomAttribute>
      <DicomAttribute tag="00200037"><Value number="2">1</Value><Value number="1">0</Value>
      </DicomAttribute>
    </NativeDicomModel>""".encode()
    read = nativexml.read(document)
    assert read["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]}
    assert read["00081140"]["Value"][0]["00081155"]["Value"] == ["1.2.3"]
    assert read["00280010"]["Value"] == [512]
    assert read["7FE00010"] == {"vr": "OW", "BulkDataURI": "http://x/pixels"}
    assert read["00091010"] == {"vr": "OB", "InlineBinary": "AAE="}
    assert read["00200037"] == {"vr": "DS", "Value": ["0", "1"]}  # VR from the dictionary


@pytest.mark.parametrize(
    "document",
    [
        b"<NativeDicomModel>",
        b"<Other/>",
        b'<!DOCTYPE d [<!ENTITY e "x">]><NativeDicomModel/>',
        b'<NativeDicomModel><DicomAttribute tag="xyz"/></NativeDicomModel>',
        b'<NativeDicomModel><DicomAttribute tag="00280010" vr="US">'
        b'<Value number="1">many</Value></DicomAttribute></NativeDicomModel>',
    ],
)
def test_documents_outside_the_model_are_refused(document: bytes) -> None:
    with pytest.raises(nativexml.InvalidNativeXml):
        nativexml.read(document)


_BOMB = """<?xml version="1.0" encoding="UTF-16"?>
<!DOCTYPE NativeDicomModel [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<NativeDicomModel>
  <DicomAttribute tag="00100010" vr="PN"><PersonName number="1">
    <Alphabetic><FamilyName>&c;</FamilyName></Alphabetic>
  </PersonName></DicomAttribute>
</NativeDicomModel>"""


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8"])
def test_entity_declarations_are_refused_in_any_encoding(encoding: str) -> None:
    document = _BOMB.replace("UTF-16", encoding.upper()).encode(encoding)
    with pytest.raises(nativexml.InvalidNativeXml):
        nativexml.read(document)


def test_external_entities_are_refused() -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        '<NativeDicomModel><DicomAttribute tag="00100020" vr="LO"><Value number="1">&x;</Value>'
        "</DicomAttribute></NativeDicomModel>"
    ).encode("utf-16")
    with pytest.raises(nativexml.InvalidNativeXml):
        nativexml.read(document)


def test_items_nested_past_the_depth_limit_are_refused() -> None:
    depth = 5000
    opening = '<DicomAttribute tag="00081140" vr="SQ"><Item number="1">' * depth
    closing = "</Item></DicomAttribute>" * depth
    document = f"<NativeDicomModel>{opening}{closing}</NativeDicomModel>".encode()
    with pytest.raises(nativexml.InvalidNativeXml):
        nativexml.read(document)
