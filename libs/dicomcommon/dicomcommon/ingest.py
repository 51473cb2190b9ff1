"""The store path for one instance, shared by STOW-RS and C-STORE: parse → validate → write the
blob → publish the command → (for the whole request or association) await the indexer.

The indexer's outcome is awaited for the whole request at once, so a batch of instances is
indexed in one of the indexer's transactions instead of one round trip per instance. A command
larger than NATS takes (the server's ``max_payload``, 1 MiB by default) carries its metadata in
a blob beside the instance instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import uuid

from dicomcommon import blobkeys, dataset, logs, studyaccess
from dicomcommon.bus import Bus, MessageTooLarge, subject
from dicomcommon.dataset import Instance
from dicomcommon.errors import FailureReason, InvalidInstance
from dicomcommon.events import (
    STORE_SUBJECT,
    InstanceStored,
    OffloadedMetadata,
    Outcome,
    OutcomeStatus,
)
from dicomcommon.multipart import Part
from dicomcommon.outcomes import OutcomeWaiter
from dicomcommon.storage import BlobStore

log = logging.getLogger(__name__)
PARSE_IN_THREAD_BYTES = 2 << 20  # larger parts are parsed off the event loop
# What the indexer answers for a store that holds: STALE was stored, then superseded by a later
# command in stream order.
SUCCESS = frozenset(
    {OutcomeStatus.STORED, OutcomeStatus.DUPLICATE, OutcomeStatus.REPLACED, OutcomeStatus.STALE}
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
        if part.size > PARSE_IN_THREAD_BYTES:
            return await asyncio.to_thread(
                dataset.read_instance, part.body, part.size, expected_study
            )
        return dataset.read_instance(part.body, part.size, expected_study)

    async def submit(
        self, part: Part, instance: Instance, upload: studyaccess.Upload
    ) -> tuple[str, asyncio.Future[Outcome]]:
        """Write the blob under a new versioned key, then publish the ingest command."""
        key = blobkeys.new_key(instance.instance_path)
        part.body.seek(0)
        await self.blobs.put(key, part.body, part.size)
        # Built from values this service computed and typed: validating the metadata again
        # would walk every element of it for nothing.
        command = InstanceStored.model_construct(
            command_id=uuid.uuid4().hex,
            request_id=logs.request_id.get(),
            reply_subject=self.waiter.subject,
            study_instance_uid=instance.study_instance_uid,
            series_instance_uid=instance.series_instance_uid,
            sop_instance_uid=instance.sop_instance_uid,
            sop_class_uid=instance.sop_class_uid,
            transfer_syntax_uid=instance.transfer_syntax_uid,
            blob_key=key,
            size=instance.size,
            sha256=instance.sha256,
            metadata=instance.metadata,
            frames=instance.frames,
            bulk_data=instance.bulk_data,
            allow_replace=self.allow_replace,
            access_groups=list(upload.study_groups),
            uploader_groups=None if upload.may_store_in is None else list(upload.may_store_in),
            metadata_key=None,
        )
        payload = command.model_dump_json().encode()
        if len(payload) > self.bus.max_message_bytes():
            command, payload = await self._offload(command)
        future = self.waiter.expect(command.command_id)
        try:
            await self._publish(command, payload, instance)
        except BaseException:
            self.waiter.forget(command.command_id)
            raise
        log.info("published %s", instance.sop_instance_uid, extra={"dicom_blob_key": key})
        return command.command_id, future

    async def _offload(self, command: InstanceStored) -> tuple[InstanceStored, bytes]:
        """Metadata too large for one NATS message goes beside the blob (a new, immutable
        object); the command carries its key and the indexer reads it from there."""
        key = blobkeys.metadata_key(command.blob_key)
        document = OffloadedMetadata.model_construct(
            metadata=command.metadata, frames=command.frames, bulk_data=command.bulk_data
        ).model_dump_json()
        body = document.encode()
        await self.blobs.put(key, io.BytesIO(body), len(body))
        light = command.model_copy(
            update={"metadata": {}, "frames": [], "bulk_data": {}, "metadata_key": key}
        )
        return light, light.model_dump_json().encode()

    async def _publish(self, command: InstanceStored, payload: bytes, instance: Instance) -> None:
        """Publish; a command NATS refuses as too large fails its instance (0xA700), and the
        blobs written for it are removed rather than left as orphans."""
        try:
            await self.bus.publish(
                subject(self.bus.settings.ingest_subject_prefix, STORE_SUBJECT),
                payload,
                msg_id=command.command_id,
            )
        except MessageTooLarge as exc:
            log.warning("%s: %s; its blobs are removed", instance.sop_instance_uid, exc)
            for key in (command.blob_key, command.metadata_key):
                if key is not None:
                    await self.blobs.delete(key)
            raise InvalidInstance(
                f"the ingest command is larger than the message bus accepts: {exc}",
                FailureReason.OUT_OF_RESOURCES,
                instance.sop_class_uid,
                instance.sop_instance_uid,
            ) from exc
