"""The blob store interface: every backend offers the same few async methods.

Keys are ``/``-separated relative paths built only from validated UIDs and generated names;
``storage.keys.check_key`` rejects anything else (``..``, absolute paths, dot segments) with
``InvalidBlobKey`` before any I/O. Backends wrap their library's errors: a missing key raises
``BlobNotFound``, an unreachable backend raises ``errors.BackendUnavailable``.
Backends: ``filesystem.FilesystemBlobStore`` and ``s3.S3BlobStore``; ``factory.open_store``
picks one from ``StorageSettings``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from dicomcommon.errors import NotFound


class BlobNotFound(NotFound):
    """No blob under that key."""


class BlobStore(Protocol):
    """What STOW writes with and WADO reads with."""

    async def put(self, key: str, source: BinaryIO | Path, size: int) -> None:
        """Store ``size`` bytes read from ``source`` (a file object positioned at 0, or a path)
        under ``key``, durably once it returns; a key handed out after that (by the index)
        holds the whole blob. A source shorter than ``size`` raises ``ValueError`` and stores
        nothing; putting a key again replaces it whole, readers seeing the old or the new blob
        (callers use fresh versioned keys, so this only happens on retries)."""

    def get(
        self, key: str, start: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Stream the bytes of ``key`` from ``start`` (``length`` bytes, or to the end) in
        chunks of at most ``chunk_size``. A range past the end is clipped (possibly to nothing);
        a negative one is a ``ValueError``. ``BlobNotFound`` surfaces on the first iteration,
        before any byte, so a handler that primes the iterator can still choose its status."""

    async def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        """Read a (small) range of ``key`` into memory: one frame, a header."""

    async def read_many(self, keys: Sequence[str]) -> builtins.list[bytes]:
        """Read several small blobs whole, in the order asked: a series of small instances
        costs one trip to the backend's I/O (one worker thread call, or concurrent requests)
        instead of one per instance. Any missing key raises ``BlobNotFound``."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    async def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key that starts with ``prefix``, in no particular order."""

    async def check(self) -> None:
        """Raise ``BackendUnavailable`` unless the backend answers (readiness probes)."""

    async def close(self) -> None: ...
