"""One pass over a stored part: the digest taken while it was spooled is the one its instance
carries, frames are mapped from the header walk's own values, and the ingest command is
written by orjson into the same JSON pydantic would write."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from pydicom.data import get_testdata_file

from dicomcommon.adapters import events
from dicomcommon.adapters.events import InstanceStored
from dicomcommon.dicom import dataset
from dicomcommon.web import multipart

FILES = ["CT_small.dcm", "MR_small_RLE.dcm", "emri_small.dcm", "SC_rgb_jpeg_dcmtk.dcm"]


def _file(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    return Path(path).read_bytes()


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _received(data: bytes) -> multipart.Part:
    body = multipart.part_header("b", "application/dicom", first=True) + data
    body += multipart.closing_delimiter("b")
    async for part in multipart.iter_parts(_one_chunk(body), b"b"):
        return part
    raise AssertionError("no part")


@pytest.mark.parametrize("name", FILES)
async def test_a_received_part_is_read_with_the_digest_taken_while_spooling(name: str) -> None:
    data = _file(name)
    part = await _received(data)
    assert part.sha256 == hashlib.sha256(data).hexdigest()
    received = dataset.read_instance(part.body, part.size, None, part.sha256)
    from_file = dataset.read_instance(io.BytesIO(data), len(data))  # hashed by the reader
    assert received.sha256 == from_file.sha256 == part.sha256
    assert received.frames == from_file.frames and received.frames
    assert received.metadata == from_file.metadata
    part.close()


@pytest.mark.parametrize("name", FILES)
def test_the_ingest_command_is_the_json_pydantic_writes(name: str) -> None:
    data = _file(name)
    instance = dataset.read_instance(io.BytesIO(data), len(data))
    command = InstanceStored.model_construct(
        command_id="c1", request_id="r1", reply_subject="outcomes.x",
        study_instance_uid=instance.study_instance_uid,
        series_instance_uid=instance.series_instance_uid,
        sop_instance_uid=instance.sop_instance_uid, sop_class_uid=instance.sop_class_uid,
        transfer_syntax_uid=instance.transfer_syntax_uid, blob_key="studies/x/v1",
        size=instance.size, sha256=instance.sha256, metadata=instance.metadata,
        frames=instance.frames, bulk_data=instance.bulk_data, allow_replace=False,
        access_groups=["a"], uploader_groups=None, metadata_key=None,
    )  # fmt: skip
    encoded = events.encode(command)
    assert orjson.loads(encoded) == orjson.loads(command.model_dump_json())
    assert InstanceStored.model_validate_json(encoded) == InstanceStored.model_validate_json(
        command.model_dump_json()
    )
