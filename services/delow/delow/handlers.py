"""DELETE of a study, a series or an instance (Microsoft's URL shape; DICOMcloud's DELOW-RS).

The delete is a command on the ingest stream, so it is ordered with the stores; the answer
waits for the indexer: once it is given, nothing of what was deleted is found. With study
groups the command carries the caller's groups, and the indexer answers a study outside them
``not_found`` in the same transaction as the delete (so a 404, as if it did not exist).
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response

from delow.settings import Settings
from dicomcommon import studyaccess
from dicomcommon.adapters.bus import Bus, subject
from dicomcommon.adapters.events import DELETE_SUBJECT, DeleteRequested, OutcomeStatus
from dicomcommon.adapters.outcomes import OutcomeWaiter
from dicomcommon.dicom.uids import require_uid
from dicomcommon.errors import NotFound, ProcessingFailure
from dicomcommon.principal import principal_of
from dicomcommon.web import audit, logs

PENDING_WARNING = '299 - "Delete accepted; the index has not confirmed it yet"'


async def delete(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    bus: Bus = request.app.state.bus
    waiter: OutcomeWaiter = request.app.state.waiter
    groups = studyaccess.visible_groups(principal_of(request.scope), settings.study_groups)
    command = _command(request, waiter.subject, groups)
    future = waiter.expect(command.command_id)
    try:
        await bus.publish(
            subject(settings.nats.ingest_subject_prefix, DELETE_SUBJECT),
            command.model_dump_json().encode(),
            msg_id=command.command_id,
        )
    except BaseException:
        waiter.forget(command.command_id)
        raise
    outcomes = await waiter.wait({command.command_id: future}, settings.index_timeout_seconds)
    outcome = outcomes.get(command.command_id)
    if outcome is None:
        return Response(status_code=202, headers={"Warning": PENDING_WARNING})
    if outcome.status is OutcomeStatus.NOT_FOUND:
        raise NotFound("nothing matched the UIDs in the URL")
    if outcome.status is not OutcomeStatus.DELETED:
        raise ProcessingFailure(f"the index did not apply the delete: {outcome.detail[:500]}")
    audit.record_of(request.scope).add_count(outcome.deleted_instances)
    return Response(status_code=204)


def _command(
    request: Request, reply_subject: str, groups: studyaccess.Groups | None
) -> DeleteRequested:
    params = request.path_params
    series, sop = params.get("series"), params.get("instance")
    return DeleteRequested(
        command_id=uuid.uuid4().hex,
        request_id=logs.request_id.get(),
        reply_subject=reply_subject,
        study_instance_uid=require_uid(params["study"], "StudyInstanceUID"),
        series_instance_uid=require_uid(series, "SeriesInstanceUID") if series else None,
        sop_instance_uid=require_uid(sop, "SOPInstanceUID") if sop else None,
        access_groups=list(groups) if groups is not None else None,
    )
