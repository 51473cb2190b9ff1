"""What ``dicomweb upload PATH…`` reads: files of folders (recursively), members of zip files,
and the files a DICOMDIR references, each as a ``Source`` that opens its bytes on demand.

Nothing is read whole: a source is a name, a size and a way to open a stream, so a folder of
any size costs one ``stat`` per file until its batch is sent. A source's ``key`` (its path, or
``archive.zip!member``) with its size and modification time is what the upload journal keys on.
A DICOMDIR met inside a folder is skipped: it indexes files the walk meets anyway.
"""

from __future__ import annotations

import contextlib
import functools
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DICOMDIR = "DICOMDIR"


@dataclass(frozen=True)
class Source:
    """One file to upload, wherever it lives."""

    key: str
    size: int
    mtime_ns: int
    open: Callable[[], IO[bytes]]


def iter_sources(paths: list[Path], closing: contextlib.ExitStack) -> Iterator[Source]:
    """Every file under ``paths``, in a stable order, each once; the zip files it opens
    close with ``closing``."""
    seen: set[str] = set()
    for path in paths:
        for source in _sources_of(path, closing):
            if source.key not in seen:
                seen.add(source.key)
                yield source


def _sources_of(path: Path, closing: contextlib.ExitStack) -> Iterator[Source]:
    if path.is_dir():
        yield from _folder(path, closing)
    elif path.name.upper() == DICOMDIR:
        yield from _dicomdir(path)
    elif zipfile.is_zipfile(path):
        yield from _zip(path, closing)
    elif path.is_file():
        yield _file(path)
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")


def _folder(root: Path, closing: contextlib.ExitStack) -> Iterator[Source]:
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if name.upper() == DICOMDIR or not path.is_file():
                continue
            zipped = name.lower().endswith(".zip")
            yield from (_zip(path, closing) if zipped else [_file(path)])


def _file(path: Path) -> Source:
    resolved = path.resolve()
    stat = resolved.stat()
    return Source(str(resolved), stat.st_size, stat.st_mtime_ns, lambda: resolved.open("rb"))


def _zip(path: Path, closing: contextlib.ExitStack) -> Iterator[Source]:
    """Members of a zip, opened through one shared handle (reading the zip's directory again
    for each member would cost time in proportion to the zip's size, for every member)."""
    resolved = path.resolve()
    archive = closing.enter_context(zipfile.ZipFile(resolved))
    mtime_ns = resolved.stat().st_mtime_ns
    for member in archive.infolist():
        if member.is_dir() or member.filename.rsplit("/", 1)[-1].upper() == DICOMDIR:
            continue
        yield Source(
            f"{resolved}!{member.filename}",
            member.file_size,
            mtime_ns,
            functools.partial(archive.open, member),
        )


def _dicomdir(path: Path) -> Iterator[Source]:
    """The files a DICOMDIR's directory records reference (PS3.10 §8.5, File IDs)."""
    import pydicom  # here: importing it costs a second or more

    index = pydicom.dcmread(path, stop_before_pixels=True)
    root = path.resolve().parent
    for record in index.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        yield _file(root.joinpath(*parts))
