"""The store path, shared by STOW-RS and C-STORE: parse → validate → write the blob → publish
the command → (for the whole request or association) await the indexer.

Batch by request: ``write`` stores an instance's blob and prepares its command; ``publish``
sends a group of prepared stores as one JetStream message (``InstancesStored``: one publish,
one stream ack, one delivery to the indexer, which applies the group in one transaction and
answers with one outcome message). A group stays within ``GROUP_MAX_INSTANCES`` and the
message size NATS takes; a lone store goes as a plain ``InstanceStored``. A command larger
than NATS takes (the server's ``max_payload``, 1 MiB by default) carries its metadata in a
blob beside the instance instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import uuid

from dicomcommon import studyaccess
from dicomcommon.adapters import events
from dicomcommon.adapters.bus import Bus, MessageTooLarge, subject
from dicomcommon.adapters.events import (
    STORE_SUBJECT,
    InstancesStored,
    InstanceStored,
    OffloadedMetadata,
    Outcome,
    OutcomeStatus,
)
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.adapters.storage import BlobStore, keys
from dicomcommon.dicom import dataset
from dicomcommon.dicom.dataset import Instance
from dicomcommon.errors import FailureReason, InvalidInstance
from dicomcommon.web import logs
from dicomcommon.web.multipart import Part

log = logging.getLogger(__name__)
PARSE_IN_THREAD_BYTES = 2 << 20  # larger parts are parsed off the event loop
GROUP_MAX_INSTANCES = 50  # instances of one request that travel in one ingest command
# What the indexer answers for a store that holds: STALE was stored, then superseded by a later
# command in stream order.
SUCCESS = frozenset(
    {OutcomeStatus.STORED, OutcomeStatus.DUPLICATE, OutcomeStatus.REPLACED, OutcomeStatus.STALE}
)
# What a store command carries of the parsed instance: every field the two share, by name.
_FROM_INSTANCE = tuple(
    f.name for f in dataclasses.fields(Instance) if f.name in InstanceStored.model_fields
)


def failure_reason(outcome: Outcome | None) -> FailureReason | None:
    """The failure an indexer outcome means, or None for a store that holds (an outcome that
    did not come in time means the command is durable but not yet confirmed: not a failure)."""
    if outcome is None or outcome.status in SUCCESS:
        return None
    if outcome.status is OutcomeStatus.REFUSED:
        return FailureReason.NOT_AUTHORIZED
    if outcome.status is OutcomeStatus.CONFLICT:
        return FailureReason.DUPLICATE_SOP_INSTANCE
    return FailureReason.PROCESSING_FAILURE


@dataclasses.dataclass
class Ingest:
    """Everything a store needs, built once at start-up."""

    blobs: BlobStore
    bus: Bus
    waiter: OutcomeWaiter
    allow_replace: bool  # the duplicate policy: overwrite a different instance under its UID

    async def read(self, part: Part, expected_study: str | None) -> Instance:
        args = (part.body, part.size, expected_study, part.sha256)
        if part.size > PARSE_IN_THREAD_BYTES:
            return await asyncio.to_thread(dataset.read_instance, *args)
        return dataset.read_instance(*args)

    async def submit(
        self, part: Part, instance: Instance, upload: studyaccess.Upload
    ) -> tuple[str, asyncio.Future[Outcome]]:
        """Write the blob and publish its command alone (one instance of an association)."""
        [pending] = await self.publish([await self.write(part, instance, upload)])
        return pending

    async def write(
        self, part: Part, instance: Instance, upload: studyaccess.Upload
    ) -> PreparedStore:
        """Write the blob under a new versioned key and prepare the command that announces it
        (encoded once, here; its metadata goes to a blob of its own when too large)."""
        key = keys.new_key(instance.instance_path)
        part.body.seek(0)
        await self.blobs.put(key, part.body, part.size)
        # Built from values this service computed and typed: validating the metadata again
        # would walk every element of it for nothing.
        command = InstanceStored.model_construct(
            command_id=uuid.uuid4().hex,
            request_id=logs.request_id.get(),
            reply_subject=self.waiter.subject,
            blob_key=key,
            allow_replace=self.allow_replace,
            access_groups=list(upload.study_groups),
            uploader_groups=None if upload.may_store_in is None else list(upload.may_store_in),
            metadata_key=None,
            **{name: getattr(instance, name) for name in _FROM_INSTANCE},
        )
        payload = events.encode(command)
        if len(payload) > self.bus.max_message_bytes():
            command, payload = await self._offload(command)
        return PreparedStore(command, payload, instance)

    def fits(self, group: list[PreparedStore], store: PreparedStore) -> bool:
        """Whether ``store`` can join ``group`` in one message."""
        size = sum(len(s.payload) + 1 for s in group) + len(store.payload) + _GROUP_FRAMING
        return len(group) < GROUP_MAX_INSTANCES and size <= self.bus.max_message_bytes()

    async def publish(
        self, group: list[PreparedStore]
    ) -> list[tuple[str, asyncio.Future[Outcome]]]:
        """Publish ``group`` as one command and wait for the stream's ack; the futures resolve
        with each instance's outcome. A command NATS refuses as too large fails its instances
        (0xA700: ``InvalidInstance``), and their blobs are removed rather than left as orphans."""
        futures = [(s.command.command_id, self.waiter.expect(s.command.command_id)) for s in group]
        one = len(group) == 1
        payload = group[0].payload if one else InstancesStored.frame([s.payload for s in group])
        try:
            await self._publish(group[0].command.command_id if one else uuid.uuid4().hex, payload)
        except BaseException as exc:
            for command_id, _ in futures:
                self.waiter.forget(command_id)
            if isinstance(exc, MessageTooLarge):
                await self._remove_blobs(group, exc)
            raise
        for store in group:
            log.info(
                "published %s",
                store.instance.sop_instance_uid,
                # its own request's id: a group may hold the stores of several requests
                extra={
                    "dicom_blob_key": store.command.blob_key,
                    "request_id": store.command.request_id,
                },
            )
        return futures

    async def _publish(self, msg_id: str, payload: bytes) -> None:
        """The one place an ingest command goes out (JetStream de-duplicates on ``msg_id``)."""
        await self.bus.publish(
            subject(self.bus.settings.ingest_subject_prefix, STORE_SUBJECT), payload, msg_id=msg_id
        )

    async def _remove_blobs(self, group: list[PreparedStore], exc: MessageTooLarge) -> None:
        for store in group:
            command = store.command
            log.warning("%s: %s; its blobs are removed", command.sop_instance_uid, exc)
            for key in (command.blob_key, command.metadata_key):
                if key is not None:
                    await self.blobs.delete(key)
        first = group[0].instance
        raise InvalidInstance(
            f"the ingest command is larger than the message bus accepts: {exc}",
            FailureReason.OUT_OF_RESOURCES,
            first.sop_class_uid,
            first.sop_instance_uid,
        ) from exc

    async def _offload(self, command: InstanceStored) -> tuple[InstanceStored, bytes]:
        """Metadata too large for one NATS message goes beside the blob (a new, immutable
        object); the command carries its key and the indexer reads it from there."""
        key = keys.metadata_key(command.blob_key)
        body = events.encode(
            OffloadedMetadata.model_construct(
                metadata=command.metadata, frames=command.frames, bulk_data=command.bulk_data
            )
        )
        await self.blobs.put(key, io.BytesIO(body), len(body))
        light = command.model_copy(
            update={"metadata": {}, "frames": [], "bulk_data": {}, "metadata_key": key}
        )
        return light, events.encode(light)


_GROUP_FRAMING = 64  # the group message's own JSON around its commands


@dataclasses.dataclass(frozen=True)
class PreparedStore:
    """A written blob and its encoded command, waiting to be published with its group."""

    command: InstanceStored
    payload: bytes
    instance: Instance
