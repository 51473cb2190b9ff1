"""Large instances through STOW: MB/s for one big multi-frame instance, and a 2 GB multipart
request with the peak memory of all the server's processes (PSS) while it is stored.

Bodies are generated while they are sent (a header from pydicom, then the pixel data written
on the fly), so the client holds no large object either; every run uses fresh UIDs.
"""

from __future__ import annotations

import asyncio
import io
import struct
import time
import uuid
from collections.abc import AsyncIterator

import psutil
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    generate_uid,
)

from bench.context import Phase, PhaseContext
from bench.report import Figure

ROWS = COLUMNS = 512
FRAMES = 400  # 512 x 512 x 2 bytes x 400 frames = 200 MiB of pixel data per instance
CHUNK = 1 << 20


def _header(study: str) -> bytes:
    """A Part 10 header up to (and including) the Pixel Data element's tag and length."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = f"BENCH-{uuid.uuid4().hex[:8]}", "Bench^Large", "OT"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    length = ROWS * COLUMNS * 2 * FRAMES
    return buffer.getvalue() + struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, length)


def instance_size() -> int:
    return len(_header(generate_uid())) + ROWS * COLUMNS * 2 * FRAMES


async def _instance_bytes(study: str) -> AsyncIterator[bytes]:
    yield _header(study)
    frame = bytes(range(256)) * (ROWS * COLUMNS * 2 // 256)
    for _ in range(FRAMES):
        for start in range(0, len(frame), CHUNK):
            yield frame[start : start + CHUNK]
        await asyncio.sleep(0)


async def _multipart(study: str, count: int, boundary: str) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        async for chunk in _instance_bytes(study):
            yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class _PeakMemory:
    """Samples the memory the server's processes hold together every 100 ms: the sum of their
    proportional set sizes (PSS), where a page several of them share (PostgreSQL's shared
    buffers, the libraries every Python service maps) counts once, not once per process as a
    sum of RSS would count it."""

    def __init__(self, ctx: PhaseContext) -> None:
        self.processes = ctx.target.cpu.processes() if ctx.target.cpu else []
        self.peak = 0

    async def watch(self) -> None:
        while True:
            total = 0
            for process in self.processes:
                try:
                    total += process.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)
            await asyncio.sleep(0.1)


def large_stow_phase(count: int) -> Phase:
    """STOW ``count`` 200 MiB instances in one multipart request (count 1: a single instance)."""
    name = "STOW large multi-frame" if count == 1 else f"STOW {count} x 200 MiB in one request"

    async def run(ctx: PhaseContext) -> list[Figure]:
        if count > 1 and (ctx.target.cpu is None or ctx.plan.quick):
            return []  # the 2 GB request: our own stack (whose memory we read), full runs only
        boundary = uuid.uuid4().hex
        peak = _PeakMemory(ctx)
        watcher = asyncio.create_task(peak.watch())
        started = time.perf_counter()
        response = await ctx.client.post(
            f"{ctx.target.dicomweb_url}/studies",
            content=_multipart(generate_uid(), count, boundary),
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": "application/dicom+json",
            },
            read_timeout=600,
        )
        seconds = time.perf_counter() - started
        watcher.cancel()
        note = "" if response.status_code == 200 else f"HTTP {response.status_code}"
        megabytes = count * instance_size() / 1e6
        figures = [Figure(f"{name}: MB/s", megabytes / seconds, "MB/s", True, note)]
        if peak.processes:
            figures.append(Figure(f"{name}: peak server memory", peak.peak / 2**20, "MiB", False))
        return figures

    return run
