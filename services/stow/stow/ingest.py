"""The store path for one part: parse → validate → write the blob → publish the command.

The indexer's outcome is awaited for the whole request at once, so a batch of instances is
indexed in one of the indexer's transactions instead of one round trip per instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

from dicomcommon import blobkeys, dataset, logs, studyaccess
from dicomcommon.bus import Bus, subject
from dicomcommon.dataset import Instance
from dicomcommon.events import STORE_SUBJECT, InstanceStored, Outcome
from dicomcommon.multipart import Part
from dicomcommon.outcomes import OutcomeWaiter
from dicomcommon.storage import BlobStore
from stow.settings import Settings

log = logging.getLogger(__name__)
PARSE_IN_THREAD_BYTES = 2 << 20  # larger parts are parsed off the event loop


@dataclasses.dataclass
class Ingest:
    """Everything a store needs, built once at start-up."""

    settings: Settings
    blobs: BlobStore
    bus: Bus
    waiter: OutcomeWaiter

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
            allow_replace=self.settings.duplicate_policy == "overwrite",
            access_groups=list(upload.study_groups),
            uploader_groups=None if upload.may_store_in is None else list(upload.may_store_in),
        )
        future = self.waiter.expect(command.command_id)
        try:
            await self.bus.publish(
                subject(self.settings.nats.ingest_subject_prefix, STORE_SUBJECT),
                command.model_dump_json().encode(),
                msg_id=command.command_id,
            )
        except BaseException:
            self.waiter.forget(command.command_id)
            raise
        log.info("published %s", instance.sop_instance_uid, extra={"dicom_blob_key": key})
        return command.command_id, future
