"""``dicomweb download``: a study, series or instance, as the server stored it.

The instances are listed by QIDO, then retrieved one request each, several at a time, with
``transfer-syntax=*`` so the server sends the stored bytes unchanged (PS3.18 §8.7.3.5.2): what
lands on disk is byte for byte what was uploaded. Each answer streams to a ``.part`` file that
is renamed when complete, under ``OUT/<study>/<series>/<instance>.dcm``; with ``--zip`` the
files go into ``OUT/<study>.zip`` as they complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from dicomweb.multipartread import save_single_part
from dicomweb.progress import UploadProgress
from dicomweb.qido import level_path, search, value
from dicomweb.server import TRANSPORT_ERRORS, CommandError, Server, unexpected, unreachable

SERIES_INSTANCE_UID = "0020000E"
SOP_INSTANCE_UID = "00080018"
STORED_BYTES = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@dataclass(frozen=True)
class Wanted:
    study: str
    series: str | None = None
    instance: str | None = None


async def download(
    server: Server,
    wanted: Wanted,
    out: Path,
    as_zip: bool,
    concurrency: int,
    progress: UploadProgress,
) -> list[Path]:
    """Every instance of ``wanted`` under ``out``; the files (or the one zip) written."""
    async with server.session(concurrency) as session:
        targets = await _instances(session, server, wanted)
        if not targets:
            raise CommandError(f"nothing found for {wanted.study} on {server.root}")
        progress.grow(len(targets), 0)
        folder = out / wanted.study
        gate = asyncio.Semaphore(concurrency)

        async def fetch(series: str, instance: str) -> Path:
            async with gate:
                path = folder / series / f"{instance}.dcm"
                url = f"{server.root}/studies/{wanted.study}/series/{series}/instances/{instance}"
                size = await _retrieve(session, server, url, path)
                progress.advance(1, size)
                return path

        files = await asyncio.gather(*(fetch(series, uid) for series, uid in targets))
    if as_zip:
        return [_zip(folder, files, out / f"{wanted.study}.zip")]
    return files


async def _instances(
    session: aiohttp.ClientSession, server: Server, wanted: Wanted
) -> list[tuple[str, str]]:
    """(series, instance) pairs of what was asked for."""
    if wanted.series and wanted.instance:
        return [(wanted.series, wanted.instance)]
    path = level_path(wanted.study, wanted.series)
    found = search(session, server, path, {"includefield": SERIES_INSTANCE_UID})
    return [
        (value(match, SERIES_INSTANCE_UID) or str(wanted.series), value(match, SOP_INSTANCE_UID))
        async for match in found
    ]


async def _retrieve(session: aiohttp.ClientSession, server: Server, url: str, path: Path) -> int:
    headers = server.headers({"Accept": STORED_BYTES})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    try:
        async with session.get(url, headers=headers) as answer:
            if answer.status != 200:
                raise unexpected(
                    server, answer.status, (await answer.read()).decode(errors="replace")
                )
            size = await save_single_part(answer, partial)
    except TRANSPORT_ERRORS as exc:
        raise unreachable(server, exc) from exc
    partial.replace(path)
    return size


def _zip(folder: Path, files: list[Path], archive: Path) -> Path:
    """The downloaded files moved into one zip (stored, not deflated: DICOM pixels rarely
    shrink and the archive is written at disk speed)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as zipped:
        for file in files:
            zipped.write(file, file.relative_to(folder).as_posix())
            file.unlink()
    for emptied in [*sorted({f.parent for f in files}), folder]:
        with contextlib.suppress(OSError):  # a folder that held other files stays
            emptied.rmdir()
    return archive
