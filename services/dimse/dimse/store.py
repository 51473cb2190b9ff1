"""C-STORE SCP (PS3.4 Annex B) on STOW's path: the same reading and validation, blob write,
ingest command and wait for the indexer (``dicomcommon.adapters.ingest``).

pynetdicom writes each received data set to a temporary Part 10 file (file meta of the
negotiated transfer syntax, then the bytes as received), so memory stays flat whatever the
instance size. Its handler runs in the association's thread; the store itself runs on the
service's event loop, where the NATS and storage clients live. The response is sent only once
the indexer confirmed, or the command is durable in JetStream (STOW's 200 / 202 promise).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomcommon import studyaccess
from dicomcommon.adapters.ingest import Ingest, failure_reason
from dicomcommon.errors import BackendUnavailable, FailureReason, InvalidInstance
from dicomcommon.principal import LOCAL
from dicomcommon.web.audit import Action, AuditRecord
from dicomcommon.web.multipart import Part
from dimse import statuses
from dimse.auditing import DimseAudit
from dimse.callers import CallerPolicy
from dimse.settings import Settings

log = logging.getLogger(__name__)
_SLACK_SECONDS = 60.0  # beyond the indexer wait: the blob write and the publish


@dataclass
class StoreScp:
    settings: Settings
    ingest: Ingest
    policy: CallerPolicy
    audit: DimseAudit
    loop: asyncio.AbstractEventLoop

    def on_c_store(self, event: Any) -> int:
        """pynetdicom's ``EVT_C_STORE`` (in the association's thread), audited."""
        touched = AuditRecord()
        status = self._status(event, touched)
        self.audit.record(event.assoc, Action.STORE, "C-STORE", status, touched)
        return status

    def _status(self, event: Any, touched: AuditRecord) -> int:
        expected = str(event.request.AffectedSOPClassUID), str(event.request.AffectedSOPInstanceUID)
        touched.touch(instance=expected[1])
        if not self.policy.permits(event.assoc, "store"):
            return statuses.NOT_AUTHORIZED
        path = Path(event.dataset_path)
        with path.open("rb") as body:
            part = Part({}, body, path.stat().st_size)
            work = asyncio.run_coroutine_threadsafe(self.store(part, expected, touched), self.loop)
            try:
                return work.result(self.settings.index_timeout_seconds + _SLACK_SECONDS)
            except TimeoutError:
                work.cancel()
                return statuses.OUT_OF_RESOURCES

    async def store(self, part: Part, expected: tuple[str, str], touched: AuditRecord) -> int:
        """Store one received Part 10 file; the C-STORE status that tells how it went."""
        try:
            instance = await self.ingest.read(part, None)
            touched.touch(instance.study_instance_uid, instance.series_instance_uid)
            if (instance.sop_class_uid, instance.sop_instance_uid) != expected:
                log.warning("%s: the data set is not the instance announced", expected[1])
                return statuses.of_failure(FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS)
            upload = studyaccess.upload(LOCAL, self.settings.study_groups)
            command_id, future = await self.ingest.submit(part, instance, upload)
        except InvalidInstance as exc:
            log.warning("%s: %s", expected[1], exc.message)
            return statuses.of_failure(exc.reason)
        except BackendUnavailable as exc:
            log.warning("%s: %s", expected[1], exc.message)
            return statuses.OUT_OF_RESOURCES
        outcomes = await self.ingest.waiter.wait(
            {command_id: future}, self.settings.index_timeout_seconds
        )
        reason = failure_reason(outcomes.get(command_id))
        if reason is not None:
            return statuses.of_failure(reason)
        touched.add_count(1)
        return statuses.WARNING_COERCION if instance.warnings else statuses.SUCCESS
