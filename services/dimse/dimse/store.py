"""C-STORE SCP (PS3.4 Annex B) on STOW's path: the same de-identification (anonymize on store),
reading and validation, study access groups, blob write and ingest command
(``dicomcommon.adapters.ingest``).

pynetdicom writes each received data set to a temporary Part 10 file (file meta of the
negotiated transfer syntax, then the bytes as received), so memory stays flat whatever the
instance size. Its handler runs in the association's thread; the store itself runs on the
service's event loop, where the NATS and storage clients live. The commands of all
associations leave in groups (``dicomcommon.adapters.grouping``). Success is answered once the
command is durable in JetStream (``confirm=durable``, STOW's 202 promise), the failures the
indexer would report having been decided from the index first (``forecast``); or once the
indexer confirmed (``confirm=indexed``, STOW's 200).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from dicomcommon import studyaccess
from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.grouping import GroupPublisher
from dicomcommon.adapters.ingest import Ingest, failure_reason
from dicomcommon.dicom.dataset import Instance
from dicomcommon.dicom.deidentify import Deidentifier
from dicomcommon.errors import BackendUnavailable, FailureReason, InvalidInstance
from dicomcommon.principal import Principal
from dicomcommon.web.audit import Action, AuditRecord
from dicomcommon.web.multipart import Part
from dimse import statuses
from dimse.auditing import DimseAudit
from dimse.callers import CallerPolicy
from dimse.forecast import Forecast, ForecastReads, forecast
from dimse.settings import Settings

log = logging.getLogger(__name__)
_SLACK_SECONDS = 60.0  # beyond the indexer wait: the blob write and the publish
_FORECAST_STATUS = {
    Forecast.CONFLICT: statuses.of_failure(FailureReason.DUPLICATE_SOP_INSTANCE),
    Forecast.REFUSED: statuses.NOT_AUTHORIZED,
}


@dataclass
class StoreScp:
    settings: Settings
    ingest: Ingest
    pool: asyncpg.Pool
    policy: CallerPolicy
    audit: DimseAudit
    loop: asyncio.AbstractEventLoop
    publisher: GroupPublisher = field(init=False)
    forecasts: ForecastReads = field(init=False)
    deidentifier: Deidentifier | None = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = GroupPublisher(self.ingest, "dimse")
        self.forecasts = ForecastReads(self.pool)
        self.deidentifier = Deidentifier.of(self.settings.deidentify)

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
        principal = self.policy.principal(event.assoc)
        path = Path(event.dataset_path)
        with path.open("rb") as body:
            part = Part({}, body, path.stat().st_size)
            store = self.store(part, expected, touched, principal)
            work = asyncio.run_coroutine_threadsafe(store, self.loop)
            try:
                return work.result(self.settings.index_timeout_seconds + _SLACK_SECONDS)
            except TimeoutError:
                work.cancel()
                return statuses.OUT_OF_RESOURCES

    async def store(
        self, part: Part, expected: tuple[str, str], touched: AuditRecord, principal: Principal
    ) -> int:
        """Store one received Part 10 file; the C-STORE status that tells how it went."""
        try:
            part = await self._deidentified(part)
            instance = await self.ingest.read(part, None)
            touched.touch(instance.study_instance_uid, instance.series_instance_uid)
            if (instance.sop_class_uid, instance.sop_instance_uid) != self._expected(expected):
                log.warning("%s: the data set is not the instance announced", expected[1])
                return statuses.of_failure(FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS)
            status = await self._submit(part, instance, principal)
        except InvalidInstance as exc:
            log.warning("%s: %s", expected[1], exc.message)
            return statuses.of_failure(exc.reason)
        except BackendUnavailable as exc:
            log.warning("%s: %s", expected[1], exc.message)
            return statuses.OUT_OF_RESOURCES
        finally:
            part.close()
        if status in (statuses.SUCCESS, statuses.WARNING_COERCION):
            touched.add_count(1)
        return status

    async def _submit(self, part: Part, instance: Instance, principal: Principal) -> int:
        """Decide what the indexer would, write the blob, publish; the status to answer."""
        success = statuses.WARNING_COERCION if instance.warnings else statuses.SUCCESS
        upload = studyaccess.upload(principal, self.settings.study_groups)
        if upload.refused:  # nothing written: no study could take it
            return statuses.NOT_AUTHORIZED
        allow_replace = self.ingest.allow_replace
        foreseen = await forecast(self.forecasts, instance, upload, allow_replace)
        if foreseen is Forecast.DUPLICATE:
            return success  # held already, byte for byte: nothing to store or announce
        if foreseen in _FORECAST_STATUS:
            return _FORECAST_STATUS[foreseen]
        [(command_id, outcome)] = await self.publisher.publish(
            [await self.ingest.write(part, instance, upload)]
        )
        if self.settings.confirm == "durable":
            self._watch(instance, command_id, outcome)
            return success
        outcomes = await self.ingest.waiter.wait(
            {command_id: outcome}, self.settings.index_timeout_seconds
        )
        reason = failure_reason(outcomes.get(command_id))
        return success if reason is None else statuses.of_failure(reason)

    def _watch(self, instance: Instance, command_id: str, outcome: asyncio.Future[Outcome]) -> None:
        """Log the indexer's outcome when it contradicts the Success answered (a race the
        forecast could not see); stop listening after ``index_timeout_seconds``."""

        def report(done: asyncio.Future[Outcome]) -> None:
            if done.cancelled():
                return
            reason = failure_reason(done.result())
            if reason is not None:
                log.warning(
                    "%s: answered Success, then the indexer refused it (%s: %s)",
                    instance.sop_instance_uid,
                    reason.name,
                    done.result().detail,
                )

        outcome.add_done_callback(report)
        timeout = self.settings.index_timeout_seconds
        self.loop.call_later(timeout, self.ingest.waiter.forget, command_id)

    async def _deidentified(self, part: Part) -> Part:
        if self.deidentifier is None:
            return part
        rewritten = await self.deidentifier.apply(part)
        if isinstance(rewritten, InvalidInstance):
            raise rewritten
        return rewritten

    def _expected(self, expected: tuple[str, str]) -> tuple[str, str]:
        """The announced SOP class and instance, the latter as de-identification maps it."""
        if self.deidentifier is None:
            return expected
        return expected[0], self.deidentifier.uid(expected[1])
