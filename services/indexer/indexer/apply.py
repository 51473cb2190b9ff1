"""Apply ingest commands to the index, idempotently and in stream order.

Each command carries its JetStream stream sequence as ``version``. A row remembers the version
that wrote it, deletes leave tombstones, and a command older than what the index already holds
changes nothing — so redelivery and several replicas end in the state the stream order says.
Change-feed rows and blob clean-ups are written in the same transaction as the index change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from dicomcommon import studyaccess
from dicomcommon.adapters.events import (
    DeleteRequested,
    FeedAction,
    InstanceStored,
    Outcome,
    OutcomeStatus,
)
from indexer import levels


@dataclass
class FeedRow:
    action: FeedAction
    study: str
    series: str
    sop: str
    version: int
    metadata: str | None  # the DICOM JSON text as stored by this event
    sop_class: str | None  # the instance's SOP Class UID, so consumers filter without metadata

    def stored_text(self, work: BatchWork) -> str | None:
        """What the row itself keeps: nothing while the instance row of its version holds the
        metadata (written once, read through the join), a copy once that row is gone."""
        return self.metadata if (self.sop, self.version) in work.gone else None


@dataclass
class BatchWork:
    """What one batch's commands did, applied together before commit."""

    feed: list[FeedRow] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)
    series: set[str] = field(default_factory=set)
    studies: set[str] = field(default_factory=set)
    removed: bool = False  # instances left a series: emptied series / studies may go
    gone: set[tuple[str, int]] = field(default_factory=set)
    """(SOP Instance UID, version) of instance rows this batch removed: their feed rows keep
    a copy of the metadata (``FeedRow.stored_text``)."""


_SELECT_EXISTING = """
SELECT study_instance_uid, series_instance_uid, sha256, version, blob_key
FROM instance WHERE sop_instance_uid = $1 FOR UPDATE
"""
_NEWEST_TOMBSTONE = """
SELECT max(version) FROM (
    SELECT version FROM tombstone WHERE sop_instance_uid = $1
    UNION ALL SELECT version FROM scope_tombstone WHERE scope_uid = $2 OR scope_uid = $3
) t
"""


async def store(
    conn: asyncpg.Connection, version: int, ev: InstanceStored, work: BatchWork
) -> Outcome:
    def outcome(status: OutcomeStatus, detail: str = "") -> Outcome:
        return Outcome(command_id=ev.command_id, status=status, sequence=version, detail=detail)

    deleted_at = await conn.fetchval(
        _NEWEST_TOMBSTONE, ev.sop_instance_uid, ev.series_instance_uid, ev.study_instance_uid
    )
    if deleted_at is not None and deleted_at > version:
        work.cleanup.append(ev.blob_key)
        return outcome(OutcomeStatus.STALE, "deleted by a later command")
    if await refused(conn, ev.study_instance_uid, ev.uploader_groups):
        return refuse(ev, version, work)
    existing = await conn.fetchrow(_SELECT_EXISTING, ev.sop_instance_uid)
    text = metadata_text(ev)
    if existing is None:
        if not await _upsert_parents(conn, ev):
            return refuse(ev, version, work)
        if await _insert_instance(conn, version, ev, text):
            record(work, FeedAction.CREATE, version, ev, text)
            return outcome(OutcomeStatus.STORED)
        existing = await conn.fetchrow(_SELECT_EXISTING, ev.sop_instance_uid)  # lost a race
        assert existing is not None
    return await _store_over(conn, version, ev, text, existing, work, outcome)


async def _store_over(
    conn: asyncpg.Connection,
    version: int,
    ev: InstanceStored,
    text: str,
    existing: asyncpg.Record,
    work: BatchWork,
    outcome: Callable[..., Outcome],
) -> Outcome:
    """A row for this SOP Instance UID exists: redelivery, duplicate, stale, conflict, replace."""
    if existing["blob_key"] == ev.blob_key:
        return outcome(OutcomeStatus.STORED)  # the same command again
    if await refused(conn, existing["study_instance_uid"], ev.uploader_groups):
        return refuse(ev, version, work)  # the instance lives in a study the uploader can't see
    work.cleanup.append(ev.blob_key)
    if existing["version"] > version:
        return outcome(OutcomeStatus.STALE, "a later version is already stored")
    same_place = (existing["study_instance_uid"], existing["series_instance_uid"]) == (
        ev.study_instance_uid,
        ev.series_instance_uid,
    )
    if existing["sha256"] == ev.sha256 and same_place:
        return outcome(OutcomeStatus.DUPLICATE)
    if not ev.allow_replace:
        return outcome(OutcomeStatus.CONFLICT, "SOP Instance UID exists with other content")
    if not await _upsert_parents(conn, ev):
        return outcome(OutcomeStatus.REFUSED, _REFUSED)  # its blob is queued for cleanup above
    work.cleanup[-1] = existing["blob_key"]
    work.removed = True
    work.series.add(existing["series_instance_uid"])
    work.studies.add(existing["study_instance_uid"])
    work.gone.add((ev.sop_instance_uid, existing["version"]))
    await conn.execute(_REPLACE_INSTANCE, ev.sop_instance_uid)
    await _insert_instance(conn, version, ev, text)
    record(work, FeedAction.UPDATE, version, ev, text)
    return outcome(OutcomeStatus.REPLACED)


_REFUSED = "the study exists and the uploader is outside its access groups"
# ``studyaccess.refuses`` for the study ``$1`` and the caller's groups ``$2``. It takes no
# lock, so it keeps the indexer's lock order (instance rows, then their study); the store path
# checks again once its study upsert holds the study row.
_REFUSES = f"SELECT {studyaccess.refuses_sql('$1', '$2')}"


async def refused(conn: asyncpg.Connection, study: str, groups: list[str] | None) -> bool:
    """Whether the study exists and the caller, limited to ``groups``, may not touch it."""
    if groups is None:
        return False
    return bool(await conn.fetchval(_REFUSES, study, groups))


def refuse(ev: InstanceStored, version: int, work: BatchWork) -> Outcome:
    """Answer a store the study's groups refuse; its blob goes, and a study row that this
    command created is dropped again when it holds no instance."""
    work.cleanup.append(ev.blob_key)
    work.studies.add(ev.study_instance_uid)
    work.removed = True
    status = OutcomeStatus.REFUSED
    return Outcome(command_id=ev.command_id, status=status, sequence=version, detail=_REFUSED)


def metadata_text(ev: InstanceStored) -> str:
    """The metadata serialized once: parsed to jsonb, kept as text, and the feed's copy."""
    return orjson.dumps(ev.metadata).decode()


def record(
    work: BatchWork, action: FeedAction, version: int, ev: InstanceStored, text: str
) -> None:
    work.series.add(ev.series_instance_uid)
    work.studies.add(ev.study_instance_uid)
    work.feed.append(
        FeedRow(
            action,
            ev.study_instance_uid,
            ev.series_instance_uid,
            ev.sop_instance_uid,
            version,
            text,
            ev.sop_class_uid,
        )
    )


_STUDY_COLUMNS = (
    "study_instance_uid, patient_id, patient_name, patient_birth_date, patient_sex, study_date,"
    " study_time, accession_number, referring_physician_name, study_id, study_description,"
    " attributes, access_groups"
)
_STUDY_CONFLICT = """
ON CONFLICT (study_instance_uid) DO UPDATE SET patient_id = EXCLUDED.patient_id,
    patient_name = EXCLUDED.patient_name, patient_birth_date = EXCLUDED.patient_birth_date,
    patient_sex = EXCLUDED.patient_sex, study_date = EXCLUDED.study_date,
    study_time = EXCLUDED.study_time, accession_number = EXCLUDED.accession_number,
    referring_physician_name = EXCLUDED.referring_physician_name,
    study_id = EXCLUDED.study_id, study_description = EXCLUDED.study_description,
    attributes = EXCLUDED.attributes, updated_at = now()
WHERE study.attributes IS DISTINCT FROM EXCLUDED.attributes"""
UPSERT_STUDY = f"""
INSERT INTO study ({_STUDY_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text[]){_STUDY_CONFLICT}
    AND ($14::text[] IS NULL OR {studyaccess.shares_group_sql("study.access_groups", "$14")})
"""
# The same upsert of many studies, one array per column of ``study_row`` (attributes and
# groups as JSON text), in UID order (the lock order); ``ingest_new_instances`` runs it.
UPSERT_STUDIES = f"""
INSERT INTO study ({_STUDY_COLUMNS})
SELECT r.uid, r.patient_id, r.patient_name, r.birth_date, r.sex, r.date, r.time, r.accession,
    r.referring, r.study_id, r.description, r.attributes::jsonb,
    ARRAY(SELECT jsonb_array_elements_text(r.groups::jsonb))
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
    AS r(uid, patient_id, patient_name, birth_date, sex, date, time, accession, referring,
    study_id, description, attributes, groups)
ORDER BY r.uid COLLATE "C"{_STUDY_CONFLICT}
"""
_SERIES_COLUMNS = (
    "series_instance_uid, study_instance_uid, modality, series_number, series_description,"
    " performed_procedure_step_start_date, performed_procedure_step_start_time, attributes"
)
_SERIES_CONFLICT = """
ON CONFLICT (series_instance_uid) DO UPDATE SET modality = EXCLUDED.modality,
    series_number = EXCLUDED.series_number, series_description = EXCLUDED.series_description,
    performed_procedure_step_start_date = EXCLUDED.performed_procedure_step_start_date,
    performed_procedure_step_start_time = EXCLUDED.performed_procedure_step_start_time,
    attributes = EXCLUDED.attributes, updated_at = now()
WHERE series.attributes IS DISTINCT FROM EXCLUDED.attributes"""
UPSERT_SERIES = f"""
INSERT INTO series ({_SERIES_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8){_SERIES_CONFLICT}
"""
# The same upsert of many series, as ``UPSERT_STUDIES`` (attributes as JSON text).
UPSERT_SERIES_MANY = f"""
INSERT INTO series ({_SERIES_COLUMNS})
SELECT r.uid, r.study, r.modality, r.number, r.description, r.pps_date, r.pps_time,
    r.attributes::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[])
    AS r(uid, study, modality, number, description, pps_date, pps_time, attributes)
ORDER BY r.uid COLLATE "C"{_SERIES_CONFLICT}
"""


def study_row(ev: InstanceStored) -> tuple[Any, ...]:
    m, f = ev.metadata, levels.first
    return (
        ev.study_instance_uid, f(m, "PatientID"), f(m, "PatientName"), f(m, "PatientBirthDate"),
        f(m, "PatientSex"), f(m, "StudyDate"), f(m, "StudyTime"), f(m, "AccessionNumber"),
        f(m, "ReferringPhysicianName"), f(m, "StudyID"), f(m, "StudyDescription"),
        levels.study_attributes(m), ev.access_groups, ev.uploader_groups,
    )  # fmt: skip


def series_row(ev: InstanceStored) -> tuple[Any, ...]:
    m, f = ev.metadata, levels.first
    return (
        ev.series_instance_uid, ev.study_instance_uid, f(m, "Modality"), f(m, "SeriesNumber"),
        f(m, "SeriesDescription"), f(m, "PerformedProcedureStepStartDate"),
        f(m, "PerformedProcedureStepStartTime"), levels.series_attributes(m),
    )  # fmt: skip


def instance_row(version: int, ev: InstanceStored, text: str) -> tuple[Any, ...]:
    m = ev.metadata
    return (
        ev.sop_instance_uid, ev.series_instance_uid, ev.study_instance_uid, ev.sop_class_uid,
        levels.first(m, "InstanceNumber"), ev.transfer_syntax_uid,
        levels.first_int(m, "NumberOfFrames"), levels.first_int(m, "Rows"),
        levels.first_int(m, "Columns"), ev.blob_key, ev.size, ev.sha256, text,
        [f.fragments for f in ev.frames], ev.bulk_data, version, levels.instance_summary(m),
    )  # fmt: skip


async def _upsert_parents(conn: asyncpg.Connection, ev: InstanceStored) -> bool:
    """Create or update the study and series rows; ``False`` (and no series written) when
    the study turns out to belong to groups the uploader is outside of. A new study gets the
    command's groups; an existing study keeps its own."""
    await conn.execute(UPSERT_STUDY, *study_row(ev))
    if await refused(conn, ev.study_instance_uid, ev.uploader_groups):
        return False  # created meanwhile by another uploader (the check in ``store`` passed)
    await conn.execute(UPSERT_SERIES, *series_row(ev))
    return True


INSERT_INSTANCE = """
INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
    instance_number, transfer_syntax_uid, number_of_frames, rows, columns, blob_key, size,
    sha256, metadata, metadata_text, frames, bulk_data, version, summary)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb, $13::text, $14, $15,
    $16, $17)
ON CONFLICT (sop_instance_uid) DO NOTHING
"""


async def _insert_instance(
    conn: asyncpg.Connection, version: int, ev: InstanceStored, text: str
) -> bool:
    status = await conn.execute(INSERT_INSTANCE, *instance_row(version, ev, text))
    return bool(status.endswith(" 1"))


# An instance row leaves the index: the feed rows that refer to its metadata (written by
# earlier batches without a copy) keep one from now on.
_KEEP_FEED_METADATA = """
UPDATE change_feed f SET metadata_text = g.metadata_text FROM gone g
WHERE f.sop_instance_uid = g.sop_instance_uid AND f.version = g.version
    AND f.metadata_text IS NULL AND f.action <> 'Delete'
"""
_REPLACE_INSTANCE = f"""
WITH gone AS (DELETE FROM instance WHERE sop_instance_uid = $1
    RETURNING sop_instance_uid, version, metadata_text)
{_KEEP_FEED_METADATA}
"""
_DELETE_INSTANCES = f"""
WITH gone AS (DELETE FROM instance WHERE study_instance_uid = $1
    AND ($2::text IS NULL OR series_instance_uid = $2)
    AND ($3::text IS NULL OR sop_instance_uid = $3) AND version < $4
    RETURNING sop_instance_uid, series_instance_uid, blob_key, sop_class_uid, version,
        metadata_text),
kept AS ({_KEEP_FEED_METADATA.strip()})
SELECT sop_instance_uid, series_instance_uid, blob_key, sop_class_uid, version FROM gone
"""
_TOMBSTONE = """
INSERT INTO tombstone (sop_instance_uid, study_instance_uid, series_instance_uid, version)
VALUES ($1, $2, $3, $4) ON CONFLICT (sop_instance_uid)
DO UPDATE SET version = greatest(tombstone.version, EXCLUDED.version), deleted_at = now()
"""
_SCOPE_TOMBSTONE = """
INSERT INTO scope_tombstone (scope_uid, version) VALUES ($1, $2) ON CONFLICT (scope_uid)
DO UPDATE SET version = greatest(scope_tombstone.version, EXCLUDED.version), deleted_at = now()
"""


async def delete(
    conn: asyncpg.Connection, version: int, ev: DeleteRequested, work: BatchWork
) -> Outcome:
    study, series, sop = ev.study_instance_uid, ev.series_instance_uid, ev.sop_instance_uid
    if await refused(conn, study, ev.access_groups):  # answered as if it did not exist
        return Outcome(command_id=ev.command_id, status=OutcomeStatus.NOT_FOUND, sequence=version)
    rows = await conn.fetch(_DELETE_INSTANCES, study, series, sop, version)
    await conn.executemany(
        _TOMBSTONE,
        [(r["sop_instance_uid"], study, r["series_instance_uid"], version) for r in rows],
    )
    if sop is not None and series is not None:
        await conn.execute(_TOMBSTONE, sop, study, series, version)
    else:
        await conn.execute(_SCOPE_TOMBSTONE, series or study, version)
    for r in rows:
        work.cleanup.append(r["blob_key"])
        work.series.add(r["series_instance_uid"])
        work.gone.add((r["sop_instance_uid"], r["version"]))
        work.feed.append(
            FeedRow(FeedAction.DELETE, study, r["series_instance_uid"], r["sop_instance_uid"],
                    version, None, r["sop_class_uid"])
        )  # fmt: skip
    work.studies.add(study)
    work.removed |= bool(rows)
    status = OutcomeStatus.DELETED if rows else OutcomeStatus.NOT_FOUND
    return Outcome(
        command_id=ev.command_id, status=status, sequence=version, deleted_instances=len(rows)
    )
