"""Storage Commitment Push Model SCP (PS3.4 Annex J): a modality asks, with an N-ACTION on the
well-known SOP instance, whether the archive holds instances it sent; the answer is an
N-EVENT-REPORT listing each reference as committed or failed, so the modality may delete its
own copy only of what the archive confirms.

An instance is committed when the index holds it with that SOP class and its blob is in
storage: what a C-STORE or STOW answered with success guarantees (the index row is only ever
written after the blob). The N-ACTION is answered at once; the check runs in a thread of its
own, and its N-EVENT-REPORT goes on the requesting association while it is open (J.3.3); if
that association has closed, or its peer does not take the report there, it goes on a new
association to the requesting AE at its ``remote_aes`` address, with us as the SCP
of the SOP class (role selection, J.3.3.1). Failure reasons (J.3.3.1.1): 0x0112 no such
object instance, 0x0119 class-instance conflict, 0x0110 processing failure.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, build_role
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.schema import dimse as reads
from dicomcommon.web.audit import Action, AuditRecord
from dimse import responses, sockets, statuses, tls
from dimse.indexscp import IndexScp

log = logging.getLogger(__name__)

WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"  # PS3.4 J.3.5 / PS3.6 Annex A
REQUEST_COMMITMENT = 1  # N-ACTION Action Type ID (J.3.2.1.1)
ALL_COMMITTED, SOME_FAILED = 1, 2  # N-EVENT-REPORT Event Type ID (J.3.3.1)
_RETRY_SECONDS = 2.0

Reference = tuple[str, str]  # (SOP Class UID, SOP Instance UID)


@dataclass
class CommitmentScp(IndexScp):
    def on_n_action(self, event: Any) -> tuple[int, Dataset | None]:
        """pynetdicom's ``EVT_N_ACTION``: accept a well-formed request and answer it later."""
        request = event.request
        if str(request.RequestedSOPInstanceUID) != WELL_KNOWN_INSTANCE:
            return statuses.INVALID_SOP_INSTANCE, None
        if request.ActionTypeID != REQUEST_COMMITMENT:
            return statuses.NO_SUCH_ACTION_TYPE, None
        if not self.policy.permits(event.assoc, "store"):
            self.audit.record(event.assoc, Action.SEARCH, "N-ACTION", statuses.NOT_AUTHORIZED)
            return statuses.NOT_AUTHORIZED, None
        information = event.action_information
        references = _references(information)
        if references is None:
            return statuses.MISSING_ATTRIBUTE, None
        transaction = str(information.TransactionUID)
        principal = self.policy.principal(event.assoc)
        groups = studyaccess.visible_groups(principal, self.settings.study_groups)
        answer = threading.Thread(
            target=self._answer, args=(event.assoc, transaction, references, groups), daemon=True
        )
        answer.start()  # it waits for this handler's response: pynetdicom pauses its reactor
        return statuses.SUCCESS, None

    def _answer(
        self,
        assoc: Any,
        transaction: str,
        references: list[Reference],
        groups: studyaccess.Groups | None,
    ) -> None:
        work = asyncio.run_coroutine_threadsafe(self.failures(references, groups), self.loop)
        try:
            failed = work.result(self.settings.postgres.command_timeout + 30)
        except Exception as exc:  # the index or storage is away: every reference fails
            log.warning("storage commitment %s: cannot check (%s)", transaction, exc)
            failed = dict.fromkeys(references, statuses.PROCESSING_FAILURE)
        report, event_type = commitment_report(transaction, references, failed)
        touched = AuditRecord()
        touched.touch_all((None, None, sop) for _, sop in references)
        touched.add_count(len(references) - len(failed))
        status = statuses.SUCCESS if not failed else statuses.PROCESSING_FAILURE
        self.audit.record(assoc, Action.SEARCH, "N-ACTION", status, touched)
        if not (assoc.is_established and _send(assoc, report, event_type)):
            self._send_on_new_association(assoc, report, event_type)

    async def failures(
        self, references: list[Reference], groups: studyaccess.Groups | None = None
    ) -> dict[Reference, int]:
        """Reference → failure reason, for each reference not durably held (or, with study
        groups, held in a study the calling AE may not see: as if it did not exist)."""
        args: list[object] = [[sop for _, sop in references]]
        if groups is not None:
            args.append(list(groups))
        rows = await db.fetch(self.pool, reads.committed(groups is not None), *args)
        held = {row["sop_instance_uid"]: (row["sop_class_uid"], row["blob_key"]) for row in rows}
        failed: dict[Reference, int] = {}
        for sop_class, sop in references:
            if sop not in held:
                failed[sop_class, sop] = statuses.NO_SUCH_OBJECT_INSTANCE
            elif held[sop][0] != sop_class:
                failed[sop_class, sop] = statuses.CLASS_INSTANCE_CONFLICT
            elif not await self.blobs.exists(held[sop][1]):
                failed[sop_class, sop] = statuses.PROCESSING_FAILURE
        return failed

    def _send_on_new_association(self, assoc: Any, report: Dataset, event_type: int) -> None:
        """The requestor left: associate with it (as the SCP of the SOP class) until the
        report is taken or ``commitment_timeout_seconds`` have passed."""
        title = str(assoc.requestor.ae_title).strip()
        remote = self.settings.remote_aes.get(title)
        if remote is None:
            log.warning("storage commitment for %s: no address for it in remote_aes", title)
            return
        ae = AE(ae_title=self.settings.ae_title)
        ae.acse_timeout = self.settings.acse_timeout_seconds
        ae.dimse_timeout = self.settings.dimse_timeout_seconds
        role = build_role(StorageCommitmentPushModel, scp_role=True)
        tls_args = (tls.client_context(self.settings), remote.host) if remote.tls else None
        deadline = time.monotonic() + self.settings.commitment_timeout_seconds
        while time.monotonic() < deadline:
            peer = ae.associate(
                remote.host,
                remote.port,
                [build_context(StorageCommitmentPushModel)],
                ae_title=title,
                ext_neg=[role],
                evt_handlers=[*sockets.HANDLERS, *responses.HANDLERS],
                tls_args=tls_args,
            )
            if peer.is_established:
                try:
                    if _send(peer, report, event_type):
                        return
                finally:
                    peer.release()
            time.sleep(_RETRY_SECONDS)
        log.warning("storage commitment for %s: the report was not taken", title)


def _references(information: Dataset | None) -> list[Reference] | None:
    """The request's (SOP class, SOP instance) references; None when malformed (J.3.2.1.1)."""
    if information is None or not information.get("TransactionUID"):
        return None
    items = information.get("ReferencedSOPSequence") or []
    references = [
        (str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")))
        for item in items
    ]
    if not references or not all(c and i for c, i in references):
        return None
    return references


def commitment_report(
    transaction: str, references: list[Reference], failed: dict[Reference, int]
) -> tuple[Dataset, int]:
    """The N-EVENT-REPORT's Event Information (J.3.3.1.1) and its Event Type ID."""
    report = Dataset()
    report.TransactionUID = transaction
    report.ReferencedSOPSequence = [_reference(*r) for r in references if r not in failed]
    if failed:
        report.FailedSOPSequence = [_reference(*r, failed[r]) for r in references if r in failed]
    return report, SOME_FAILED if failed else ALL_COMMITTED


def _reference(sop_class: str, sop_instance: str, reason: int | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    if reason is not None:
        item.FailureReason = reason
    return item


def _send(assoc: Any, report: Dataset, event_type: int) -> bool:
    """Send the report; True when the peer took it (answered Success)."""
    try:
        status, _ = assoc.send_n_event_report(
            report, event_type, StorageCommitmentPushModel, WELL_KNOWN_INSTANCE
        )
    except (RuntimeError, ValueError) as exc:
        log.warning("storage commitment report not sent: %s", exc)
        return False
    return bool(status.get("Status") == statuses.SUCCESS)
