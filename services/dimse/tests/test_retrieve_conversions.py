"""C-MOVE / C-GET transcodes under WADO's caps (``dicomcommon.dicom.conversions``): the per-instance
size cap and the process's conversion gate. A sub-operation the caps refuse fails alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from dicomcommon.adapters.storage.filesystem import FilesystemBlobStore
from dimse.located import LocatedInstance
from dimse.retrieve import RetrieveScp
from dimse.settings import Settings


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The service's event loop, in its own thread as pynetdicom's handlers see it."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join()
    running.close()


def rle_instance(path: Path, side: int) -> LocatedInstance:
    """An RLE Lossless secondary capture of ``side`` by ``side`` noisy 8-bit pixels."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pixels = np.random.default_rng(7).integers(0, 255, (side, side), dtype=np.uint8)
    ds.compress(RLELossless, pixels, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return LocatedInstance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                           ds.SOPClassUID, RLELossless, path.name)  # fmt: skip


def scp(root: Path, loop: asyncio.AbstractEventLoop, **limits: Any) -> RetrieveScp:
    settings = Settings(host="127.0.0.1", **limits)
    none = cast(Any, None)
    return RetrieveScp(settings, none, FilesystemBlobStore(root), none, none, loop)


def sent(result: Dataset) -> bool:
    return "SOPClassUID" in result  # an unsendable data set has none: a failed sub-operation


def test_an_instance_within_the_caps_is_transcoded(tmp_path: Path, loop: Any) -> None:
    item = rle_instance(tmp_path / "small.dcm", 64)
    result = scp(tmp_path, loop)._prepared(
        item, frozenset({ExplicitVRLittleEndian}), tmp_path / "s"
    )
    assert sent(result) and result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_an_instance_over_max_transcode_bytes_fails_its_sub_operation(
    tmp_path: Path, loop: Any
) -> None:
    item = rle_instance(tmp_path / "large.dcm", 1100)  # noise: RLE keeps it over 1 MiB
    retrieve = scp(tmp_path, loop, max_transcode_bytes=1 << 20)
    result = retrieve._prepared(item, frozenset({ExplicitVRLittleEndian}), tmp_path / "s")
    assert not sent(result) and result.SOPInstanceUID == item.sop_instance_uid


def test_a_transcode_that_finds_no_room_fails_its_sub_operation(tmp_path: Path, loop: Any) -> None:
    item = rle_instance(tmp_path / "busy.dcm", 64)
    retrieve = scp(tmp_path, loop, max_conversions=1, conversion_wait_seconds=0)
    held, release = threading.Event(), asyncio.Event()

    async def occupy() -> None:
        async with retrieve.conversions.admit(1):
            held.set()
            await release.wait()

    occupied = asyncio.run_coroutine_threadsafe(occupy(), loop)
    assert held.wait(10)
    accepted = frozenset({ExplicitVRLittleEndian})
    assert not sent(retrieve._prepared(item, accepted, tmp_path / "s"))
    loop.call_soon_threadsafe(release.set)
    occupied.result(10)
    assert sent(retrieve._prepared(item, accepted, tmp_path / "s"))
