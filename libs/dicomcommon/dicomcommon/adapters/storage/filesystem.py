"""Blobs as files under one root folder: the embedded default and single-node deployments.

Writes are durable before ``put`` returns (fsync the file, then its folder). A new key is
written in place: keys are fresh versions no reader knows before the index has them, so a crash
mid-write leaves only an orphan the sweeper removes by age, and the temp file and rename would
be work for nothing. Putting an existing key again (a retry) replaces it whole: temp file,
fsync, rename. File I/O runs in worker threads so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO

from dicomcommon.adapters.storage import BlobNotFound
from dicomcommon.adapters.storage.keys import check_key, check_prefix, check_range
from dicomcommon.errors import BackendUnavailable

_COPY_CHUNK = 1 << 20
_MKDIR_ATTEMPTS = 3


class FilesystemBlobStore:
    """A ``BlobStore`` whose key ``a/b/c`` is the file ``root/a/b/c``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    async def open(cls, root: Path) -> FilesystemBlobStore:
        """Create the root folder, so the first readiness check of a fresh install passes."""
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        return cls(root)

    async def put(self, key: str, source: BinaryIO | Path, size: int) -> None:
        path = self._path(key)
        # Opening the source is the caller's concern: a missing source file is not an outage.
        opened = (
            await asyncio.to_thread(source.open, "rb")
            if isinstance(source, Path)
            else contextlib.nullcontext(source)
        )
        with opened as reader:
            try:
                await asyncio.to_thread(_write_durably, path, reader, size)
            except OSError as exc:
                raise BackendUnavailable(f"cannot write blob {key}: {exc}") from exc

    async def get(
        self, key: str, start: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Stream a range with positioned reads, one worker-thread hop per chunk.

        ``BlobNotFound`` is raised on the first iteration, before any byte is produced.
        """
        check_range(start, length)
        fd, size = await asyncio.to_thread(self._open, key)
        blob = _OpenBlob(fd)
        try:
            end = size if length is None else min(size, start + length)
            position = start
            while position < end:
                count = min(chunk_size, end - position)
                chunk = await asyncio.to_thread(blob.pread, count, position)
                if not chunk:  # the file shrank: a torn read, never hand out a short blob
                    raise BackendUnavailable(f"blob {key} changed while being read")
                position += len(chunk)
                yield chunk
        finally:
            blob.close()

    async def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        check_range(start, length)
        return await asyncio.to_thread(self._read_range, key, start, length)

    async def read_many(self, keys: Sequence[str]) -> builtins.list[bytes]:
        """One worker thread reads them all: a thread hand-off costs more than reading a
        small file from the page cache."""
        return await asyncio.to_thread(self._read_all, keys)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(_remove_file_and_empty_parents, path, self.root)
        except OSError as exc:
            raise BackendUnavailable(f"cannot delete blob {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Walk only the folder the prefix names, one folder per worker-thread hop."""
        check_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        pending = [folder]
        while pending:
            relative = pending.pop()
            files, folders = await asyncio.to_thread(_scan, self.root, relative)
            for key in files:
                if key.startswith(prefix):
                    yield key
            pending.extend(name for name in folders if _may_hold(name, prefix))

    async def check(self) -> None:
        """Ready when the root is a writable folder (a missing mount shows up here)."""
        writable = await asyncio.to_thread(_is_writable_folder, self.root)
        if not writable:
            raise BackendUnavailable(f"blob folder {self.root} is missing or not writable")

    async def close(self) -> None:
        """Nothing to release: every call opens and closes its own files."""

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _open(self, key: str) -> tuple[int, int]:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {key}") from exc
        except OSError as exc:
            raise BackendUnavailable(f"cannot open blob {key}: {exc}") from exc
        return fd, os.fstat(fd).st_size

    def _read_all(self, keys: Sequence[str]) -> builtins.list[bytes]:
        return [self._read_range(key, 0, None) for key in keys]

    def _read_range(self, key: str, start: int, length: int | None) -> bytes:
        fd, size = self._open(key)
        try:
            count = max(0, (size if length is None else min(size, start + length)) - start)
            parts: list[bytes] = []
            while count > 0:
                chunk = os.pread(fd, count, start)
                if not chunk:
                    raise BackendUnavailable(f"blob {key} changed while being read")
                parts.append(chunk)
                start += len(chunk)
                count -= len(chunk)
            return b"".join(parts)
        finally:
            os.close(fd)


class _OpenBlob:
    """A descriptor whose close waits for an in-flight read: when a client goes away the
    request is cancelled while a worker thread may still be reading, and closing the
    descriptor under it could let the read hit a file opened later under the same number."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def pread(self, count: int, position: int) -> bytes:
        with self._lock:
            return os.pread(self._fd, count, position)

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)


def _write_durably(path: Path, reader: BinaryIO, size: int) -> None:
    """A new key in place (create-exclusive, write, fsync, fsync the folder); an existing one
    is replaced whole. A failed write removes what it began."""
    fd = _create_exclusive(path)
    if fd is None:
        _write_atomically(path, reader, size)
        return
    try:
        with os.fdopen(fd, "wb") as blob:
            _copy_exactly(reader, blob, size)
            blob.flush()
            os.fsync(blob.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _create_exclusive(path: Path) -> int | None:
    """The new file's descriptor, or None when the key exists. Its folders are made on demand
    (a concurrent ``delete`` may remove an emptied folder in between: retry)."""
    for attempt in range(_MKDIR_ATTEMPTS):
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return None
        except FileNotFoundError:
            if attempt == _MKDIR_ATTEMPTS - 1:
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
    raise AssertionError("unreachable")


def _write_atomically(path: Path, reader: BinaryIO, size: int) -> None:
    """Temp file beside the target, fsync, rename, fsync the folder: all or nothing, durable."""
    fd, temp_name = _create_temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as temp:
            _copy_exactly(reader, temp, size)
            temp.flush()
            os.fsync(temp.fileno())
        Path(temp_name).replace(path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _create_temp_beside(path: Path) -> tuple[int, str]:
    """A hidden temp file in the target folder, so the rename stays on one filesystem.

    A concurrent ``delete`` may remove the emptied folder between mkdir and mkstemp; retry.
    """
    for attempt in range(_MKDIR_ATTEMPTS):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except FileNotFoundError:
            if attempt == _MKDIR_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _copy_exactly(reader: BinaryIO, writer: BinaryIO, size: int) -> None:
    """Copy ``size`` bytes in bounded chunks; a short source is an error, not a short blob."""
    remaining = size
    while remaining > 0:
        chunk = reader.read(min(_COPY_CHUNK, remaining))
        if not chunk:
            raise ValueError(f"source ended {remaining} bytes before the declared size {size}")
        writer.write(chunk)
        remaining -= len(chunk)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable: without this a crash can forget the new entry."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_file_and_empty_parents(path: Path, root: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        parent = parent.parent


def _scan(root: Path, relative: str) -> tuple[list[str], list[str]]:
    """Keys of the files and relative names of the subfolders of one folder; dot names skipped."""
    files: list[str] = []
    folders: list[str] = []
    base = f"{relative}/" if relative else ""
    try:
        with os.scandir(root / relative if relative else root) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                target = folders if entry.is_dir(follow_symlinks=False) else files
                target.append(base + entry.name)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return files, folders


def _may_hold(folder: str, prefix: str) -> bool:
    """Whether keys under ``folder/`` can start with ``prefix``."""
    return (folder + "/").startswith(prefix) or prefix.startswith(folder + "/")


def _is_writable_folder(root: Path) -> bool:
    return root.is_dir() and os.access(root, os.W_OK | os.X_OK)
