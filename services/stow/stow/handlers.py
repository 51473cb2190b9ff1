"""STOW-RS routes (PS3.18 §10.5): one handler, reading top to bottom."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from dicomcommon import studyaccess
from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.grouping import GroupPublisher
from dicomcommon.adapters.ingest import Ingest, PreparedStore
from dicomcommon.dicom.dataset import Instance
from dicomcommon.dicom.deidentify import Deidentifier
from dicomcommon.dicom.uids import require_uid
from dicomcommon.errors import (
    BackendUnavailable,
    DicomwebError,
    FailureReason,
    InvalidInstance,
    UnsupportedMediaType,
)
from dicomcommon.principal import principal_of
from dicomcommon.web import audit, multipart, negotiation
from stow import metadata_parts
from stow.report import StoreReport
from stow.settings import Settings

_DICOM = "application/dicom"


async def store_instances(request: Request) -> Response:
    ingest: Ingest = request.app.state.ingest
    settings: Settings = request.app.state.settings
    deidentifier: Deidentifier | None = request.app.state.deidentifier
    study = request.path_params.get("study")
    if study is not None:
        require_uid(study, "StudyInstanceUID")
        study = deidentifier.uid(study) if deidentifier else study
    xml = _wants_xml(request)
    report = StoreReport(settings.http.public_base_url, study)
    pending: list[tuple[Instance, str, asyncio.Future[Outcome]]] = []
    try:
        await _store_parts(request, settings, ingest, deidentifier, study, report, pending)
    except DicomwebError as exc:
        if not pending:
            raise  # nothing stored: the error is the whole answer
        report.cut_short(exc)  # the instances stored before it are listed, the rest failed
    outcomes = await ingest.waiter.wait(
        {cid: fut for _, cid, fut in pending}, settings.index_timeout_seconds
    )
    for instance, cid, _ in pending:
        report.stored(instance, outcomes.get(cid))
    audit.record_of(request.scope).add_instances(report.stored_uids)
    return report.response(xml)


async def _store_parts(
    request: Request,
    settings: Settings,
    ingest: Ingest,
    deidentifier: Deidentifier | None,
    study: str | None,
    report: StoreReport,
    pending: list[tuple[Instance, str, asyncio.Future[Outcome]]],
) -> None:
    """Store each part of the request in turn, publishing them in groups (one ingest command
    per group, ``Ingest.fits``, shared with the batches of concurrent requests written
    meanwhile: ``GroupPublisher``) and adding what awaits the indexer to ``pending``."""
    publisher: GroupPublisher = request.app.state.publisher
    upload = studyaccess.upload(principal_of(request.scope), settings.study_groups)
    group: list[PreparedStore] = []
    try:
        async for part in _parts(request, settings, deidentifier):
            if isinstance(part, InvalidInstance):
                report.fail(part.sop_class_uid, part.sop_instance_uid, part.reason, str(part))
                continue
            try:
                store = await _write_part(ingest, part, study, upload, report)
            finally:
                part.close()
            if store is None:
                continue
            if group and not ingest.fits(group, store):
                full, group = group, []
                await _publish(publisher, full, report, pending)
            group.append(store)
    finally:  # what was written is announced, also when a later part ends the request
        if group:
            full, group = group, []
            await _publish(publisher, full, report, pending)


async def _write_part(
    ingest: Ingest,
    part: multipart.Part,
    study: str | None,
    upload: studyaccess.Upload,
    report: StoreReport,
) -> PreparedStore | None:
    """Read one part and write its blob; per-instance failures become report entries."""
    try:
        instance = await ingest.read(part, study)
    except InvalidInstance as exc:
        report.fail(exc.sop_class_uid, exc.sop_instance_uid, exc.reason, str(exc))
        return None
    if upload.refused:  # nothing written: no study could take it
        report.refuse(instance, studyaccess.NO_GROUP)
        return None
    return await ingest.write(part, instance, upload)


async def _publish(
    publisher: GroupPublisher,
    group: list[PreparedStore],
    report: StoreReport,
    pending: list[tuple[Instance, str, asyncio.Future[Outcome]]],
) -> None:
    """One ingest command for ``group``; if it cannot go, its instances fail (the whole
    request is a 503 when nothing of it was accepted before)."""
    try:
        published = await publisher.publish(group)
    except InvalidInstance as exc:  # the command is larger than the message bus takes
        for store in group:
            i = store.instance
            report.fail(i.sop_class_uid, i.sop_instance_uid, exc.reason, str(exc))
        return
    except BackendUnavailable:
        if not pending:
            raise  # nothing accepted yet: the whole request is a 503
        for store in group:
            i = store.instance
            report.fail(i.sop_class_uid, i.sop_instance_uid, FailureReason.OUT_OF_RESOURCES)
        return
    for store, (cid, future) in zip(group, published, strict=True):
        light = dataclasses.replace(store.instance, metadata={}, bulk_data={}, frames=[])
        pending.append((light, cid, future))


async def _parts(
    request: Request, settings: Settings, deidentifier: Deidentifier | None
) -> AsyncIterator[multipart.Part | InvalidInstance]:
    """Each instance of the request as a Part 10 part (de-identified when the setting says so),
    or the reason an instance cannot be stored."""
    async for part in _instances(request, settings):
        if deidentifier is None or isinstance(part, InvalidInstance):
            yield part
        else:
            yield await deidentifier.apply(part)


async def _instances(
    request: Request, s: Settings
) -> AsyncIterator[multipart.Part | InvalidInstance]:
    content_type = multipart.MediaType.parse(request.headers.get("content-type", ""))
    limits = multipart.PartLimits(s.max_parts, s.max_part_bytes, s.max_request_bytes)
    if content_type.essence == _DICOM:
        yield await multipart.spool_body(request.stream(), limits)
        return
    if content_type.essence != "multipart/related":
        raise UnsupportedMediaType(
            f"STOW-RS accepts {_DICOM} or multipart/related, not "
            f"{content_type.essence or 'an empty Content-Type'}"
        )
    part_type = content_type.params.get("type", _DICOM).lower()
    if part_type != _DICOM and part_type not in metadata_parts.METADATA_TYPES:
        raise UnsupportedMediaType(f"multipart/related type {part_type!r} is not supported")
    parts = multipart.iter_parts(request.stream(), multipart.boundary_of(content_type), limits)
    if part_type in metadata_parts.METADATA_TYPES:
        documents = metadata_parts.instances(
            parts, part_type, s.max_metadata_part_bytes, s.max_parts
        )
        async for item in documents:
            yield item
        return
    async for part in parts:
        yield part


def _wants_xml(request: Request) -> bool:
    """``application/dicom+json`` or ``+xml`` as the Accept header prefers (PS3.18 §10.5.2);
    STOW defines no ``accept`` query parameter."""
    return negotiation.negotiate(request, _format, query_parameter=False)[0]


def _format(media_type: multipart.MediaType) -> bool | None:
    """True for XML, False for JSON, None for a type STOW does not answer in."""
    if media_type.essence in ("application/dicom+json", "application/json", "*/*", "application/*"):
        return False
    return True if media_type.essence == "application/dicom+xml" else None
