"""STOW-RS metadata + bulk data (PS3.18 §10.5.1.2): DICOM JSON / XML parts → Part 10 files."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from dicomcommon.dicom import dataset, dicomjson
from dicomcommon.errors import FailureReason, InvalidInstance, PayloadTooLarge
from dicomcommon.web.multipart import Part
from stow import metadata_parts

JSON = metadata_parts.JSON_TYPE
XML = metadata_parts.XML_TYPE


def _template(name: str) -> Dataset:
    path = get_testdata_file(name)
    assert path is not None
    return pydicom.dcmread(path)


def _part(content_type: str, body: bytes, **headers: str) -> Part:
    part = Part({"content-type": content_type, **headers})
    part.write(body)
    part.body.seek(0)
    return part


def _metadata(ds: Dataset, threshold: int = 256) -> dict[str, Any]:
    """DICOM JSON with every binary value past ``threshold`` as a BulkDataURI naming its tag."""

    def uri(elem: DataElement) -> str:
        return f"http://client.example/bulk/{int(elem.tag):08X}"

    return ds.to_json_dict(bulk_data_threshold=threshold, bulk_data_element_handler=uri)


async def _collect(parts: list[Part], root_type: str = JSON) -> list[Part | InvalidInstance]:
    async def stream() -> AsyncIterator[Part]:
        for part in parts:
            yield part

    return [item async for item in metadata_parts.instances(stream(), root_type)]


def _read(part: Part | InvalidInstance) -> Dataset:
    assert isinstance(part, Part), part
    part.body.seek(0)
    return pydicom.dcmread(part.body)


def _native_request(ds: Dataset, root_type: str = JSON) -> list[Part]:
    meta = _metadata(ds)
    document = dicomjson.to_native_xml(meta) if root_type == XML else orjson.dumps([meta])
    pixels = _part(
        "application/octet-stream",
        ds.PixelData,
        **{"content-location": "http://client.example/bulk/7FE00010"},
    )
    return [_part(root_type, document), pixels]


@pytest.mark.parametrize("root_type", [JSON, XML])
async def test_native_pixel_data_from_octet_stream_part(root_type: str) -> None:
    original = _template("MR_small.dcm")
    [built] = await _collect(_native_request(original, root_type), root_type)
    ds = _read(built)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPInstanceUID == original.SOPInstanceUID
    assert ds.PatientName == original.PatientName
    assert np.array_equal(ds.pixel_array, original.pixel_array)


async def test_built_part_takes_the_application_dicom_path() -> None:
    original = _template("emri_small.dcm")  # 10 frames
    [built] = await _collect(_native_request(original))
    assert isinstance(built, Part)
    instance = dataset.read_instance(built.body, built.size, original.StudyInstanceUID)
    assert instance.sop_instance_uid == original.SOPInstanceUID
    assert len(instance.frames) == 10


async def test_jpeg_frame_part_becomes_encapsulated_pixel_data() -> None:
    original = _template("SC_rgb_jpeg_dcmtk.dcm")
    [frame] = list(generate_frames(original.PixelData, number_of_frames=1))
    meta = _metadata(original)
    meta["7FE00010"] = {"vr": "OB", "BulkDataURI": "cid:frame1@client"}
    parts = [
        _part(JSON, orjson.dumps(meta)),
        _part("image/jpeg", frame, **{"content-id": "<frame1@client>"}),
    ]
    [built] = await _collect(parts)
    ds = _read(built)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert list(generate_frames(ds.PixelData, number_of_frames=1)) == [frame]


async def test_transfer_syntax_parameter_names_the_codec() -> None:
    original = _template("JPEG2000.dcm")
    [frame] = list(generate_frames(original.PixelData, number_of_frames=1))
    meta = _metadata(original)
    meta["7FE00010"] = {"vr": "OB", "BulkDataURI": "frame"}
    media = 'image/jp2; transfer-syntax="1.2.840.10008.1.2.4.91"'
    parts = [_part(JSON, orjson.dumps(meta)), _part(media, frame, **{"content-location": "frame"})]
    [built] = await _collect(parts)
    assert _read(built).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"


async def test_one_part_per_frame_for_compressed_multi_frame() -> None:
    original = _template("SC_rgb_rle_2frame.dcm")
    frames = list(generate_frames(original.PixelData, number_of_frames=2))
    meta = _metadata(original)
    meta["7FE00010"] = {"vr": "OB", "BulkDataURI": "pixels"}
    location = {"content-location": "pixels"}
    parts = [_part(JSON, orjson.dumps(meta))]
    parts += [_part("image/dicom-rle", f, **location) for f in frames]
    [built] = await _collect(parts)
    ds = _read(built)
    assert list(generate_frames(ds.PixelData, number_of_frames=2)) == frames
    assert np.array_equal(ds.pixel_array, original.pixel_array)


async def test_several_data_sets_in_one_json_array() -> None:
    first, second = _template("CT_small.dcm"), _template("MR_small.dcm")
    for ds in (first, second):
        del ds.PixelData
    body = orjson.dumps([_metadata(first, 1 << 20), _metadata(second, 1 << 20)])
    built = await _collect([_part(JSON, body)])
    uids = [_read(b).SOPInstanceUID for b in built]
    assert uids == [first.SOPInstanceUID, second.SOPInstanceUID]


async def test_missing_referenced_part_fails_the_instance_with_a900() -> None:
    original = _template("MR_small.dcm")
    [metadata, _pixels] = _native_request(original)
    [failed] = await _collect([metadata])
    assert isinstance(failed, InvalidInstance)
    assert failed.reason is FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert failed.sop_instance_uid == original.SOPInstanceUID


@pytest.mark.parametrize(
    ("root_type", "body"),
    [
        (JSON, b"[{not json"),
        (JSON, b"[42]"),
        (XML, b"<NativeDicomModel><DicomAttribute"),
        (XML, b"<Other/>"),
        (XML, b'<!DOCTYPE x [<!ENTITY a "aaaa">]><NativeDicomModel>&a;</NativeDicomModel>'),
    ],
)
async def test_unreadable_metadata_fails_with_c000(root_type: str, body: bytes) -> None:
    [failed] = await _collect([_part(root_type, body)], root_type)
    assert isinstance(failed, InvalidInstance)
    assert failed.reason is FailureReason.CANNOT_UNDERSTAND


async def test_data_set_without_sop_uids_fails_with_a900() -> None:
    [failed] = await _collect([_part(JSON, b'[{"00100010": {"vr": "PN"}}]')])
    assert isinstance(failed, InvalidInstance)
    assert failed.reason is FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS


async def test_unsupported_pixel_media_type_fails_with_c000() -> None:
    original = _template("MR_small.dcm")
    metadata, pixels = _native_request(original)
    pixels.headers["content-type"] = "text/plain"
    [failed] = await _collect([metadata, pixels])
    assert isinstance(failed, InvalidInstance)
    assert failed.reason is FailureReason.CANNOT_UNDERSTAND
    assert failed.sop_instance_uid == original.SOPInstanceUID


async def test_bulk_parts_past_the_memory_budget_go_to_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metadata_parts, "IN_MEMORY_BULK_BYTES", 1000)
    received = metadata_parts.Received()
    parts = [_part("application/octet-stream", b"x" * 600, **{"content-location": str(i)})
             for i in range(3)]  # fmt: skip
    for part in parts:
        received.add(part, JSON)
    assert isinstance(parts[0].body, io.BytesIO)
    assert not any(isinstance(p.body, io.BytesIO) for p in parts[1:])
    assert received.find("2")[0].body.read() == b"x" * 600
    received.close()


def test_metadata_parts_count_against_the_in_memory_budget() -> None:
    """Metadata parts used to stay in memory however many came (4 MiB each, up to the part
    count limit); now they share the bulk parts' budget and the rest move to disk."""
    received = metadata_parts.Received()
    document = b"[" + b" " * (3 << 20) + b"]"  # 3 MiB: each stays in memory while received
    for _ in range(8):
        received.add(_part(JSON, document), JSON)
    try:
        held = sum(p.size for p in received.metadata if isinstance(p.body, io.BytesIO))
        assert held <= metadata_parts.IN_MEMORY_BULK_BYTES
        assert [orjson.loads(_bytes(p)) for p in received.metadata] == [[]] * 8
    finally:
        received.close()


def _bytes(part: Part) -> bytes:
    part.body.seek(0)
    return part.body.read()


async def test_a_metadata_document_past_its_limit_fails_with_out_of_resources() -> None:
    document = orjson.dumps([_metadata(_template("CT_small.dcm"))])

    async def stream() -> AsyncIterator[Part]:
        yield _part(JSON, document)

    [failed] = [item async for item in metadata_parts.instances(stream(), JSON, 1000)]
    assert isinstance(failed, InvalidInstance)
    assert failed.reason == FailureReason.OUT_OF_RESOURCES


@pytest.mark.parametrize(
    "document",
    [b'[{"00080018": 5}]', b'[{"00080016": {"Value": {"a": 1}}}]', b'[{"00080018": []}]'],
)
async def test_elements_that_are_not_elements_fail_their_data_set(document: bytes) -> None:
    async def stream() -> AsyncIterator[Part]:
        yield _part(JSON, document)

    [failed] = [item async for item in metadata_parts.instances(stream(), JSON)]
    assert isinstance(failed, InvalidInstance)


async def test_more_data_sets_than_the_limit_refuse_the_rest_of_the_request() -> None:
    async def stream() -> AsyncIterator[Part]:
        yield _part(JSON, b"[" + b",".join([b"0"] * 50) + b"]")

    found = []
    with pytest.raises(PayloadTooLarge):
        async for item in metadata_parts.instances(stream(), JSON, max_data_sets=10):
            found.append(item)
    assert len(found) == 10
