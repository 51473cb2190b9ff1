"""Store commands whose metadata travelled in a blob (too large for one NATS message): the
metadata, frames and bulk data are read back before the command is applied."""

from __future__ import annotations

from dicomcommon.adapters.events import InstanceStored, OffloadedMetadata
from dicomcommon.adapters.storage import BlobStore
from indexer.batch import Command


async def load(blobs: BlobStore, command: Command) -> Command:
    """The command as if it had carried its metadata; a missing blob raises ``BlobNotFound``
    (the command is then parked), an unreachable store ``BackendUnavailable`` (held)."""
    sequence, event = command
    if not isinstance(event, InstanceStored) or event.metadata_key is None:
        return command
    document = OffloadedMetadata.model_validate_json(await blobs.read(event.metadata_key))
    update = {
        "metadata": document.metadata,
        "frames": document.frames,
        "bulk_data": document.bulk_data,
    }
    return sequence, event.model_copy(update=update)


async def load_all(blobs: BlobStore, commands: list[Command]) -> list[Command]:
    return [await load(blobs, command) for command in commands]
