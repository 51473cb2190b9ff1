"""Build the configured blob store: the one place that knows every backend."""

from __future__ import annotations

from dicomcommon.adapters.storage import BlobStore
from dicomcommon.adapters.storage.filesystem import FilesystemBlobStore
from dicomcommon.adapters.storage.s3 import S3BlobStore
from dicomcommon.settings import StorageSettings


async def open_store(settings: StorageSettings) -> BlobStore:
    """Open the backend ``settings.backend`` names; the caller closes it at shutdown."""
    if settings.backend == "s3":
        return await S3BlobStore.open(settings)
    return await FilesystemBlobStore.open(settings.root)
