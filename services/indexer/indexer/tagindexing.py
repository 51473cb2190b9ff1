"""Index the values of extended query tags from the stored metadata (``instance.metadata``),
set-based: one statement reads the chosen instances' documents once, checks each value
against its tag's VR (``dicom_tag_value_error``, migrations 0017 and 0018), upserts the values
into the table of the tag's level and records the values it could not index. DT values also
keep their moment in UTC, read in their own offset, else their instance's
TimezoneOffsetFromUTC (``moment_floating`` when neither gives one).

Two callers: the ingest batch, for the instances it just stored (every tag that is being
added or is ready), and the reindex operation, for a range of SOP Instance UIDs (the tags it
adds). Study and series values are their newest instance's (highest stream sequence).
"""

from __future__ import annotations

import asyncpg

from dicomcommon.adapters.events import FeedAction
from indexer.apply import BatchWork

_NUMBERS = "('DS', 'FD', 'FL', 'IS', 'SL', 'SS', 'UL', 'US')"
_VALUES = "text_value, name_value, number_value, moment_value, moment_floating, version"
_UPDATE = (
    "text_value = EXCLUDED.text_value, name_value = EXCLUDED.name_value, "
    "number_value = EXCLUDED.number_value, moment_value = EXCLUDED.moment_value, "
    "moment_floating = EXCLUDED.moment_floating, version = EXCLUDED.version"
)


def _newest_upsert(table: str, uid: str, level: str) -> str:
    """The upsert of a study's or a series' values: its newest instance's (highest version)
    win, in the batch and against the row already there."""
    return f"""INSERT INTO {table} (tag_key, {uid}, {_VALUES})
    SELECT DISTINCT ON (tag_key, {uid}) tag_key, {uid}, {_VALUES}
    FROM valued WHERE level = '{level}' ORDER BY tag_key, {uid}, version DESC
    ON CONFLICT (tag_key, {uid}) DO UPDATE SET {_UPDATE}
    WHERE {table}.version <= EXCLUDED.version
    RETURNING 1"""


def _statement(tags: str, instances: str) -> str:
    """The indexing statement for the tags matching ``tags`` and the instances matching
    ``instances`` (conditions over ``extended_query_tag`` and ``instance i``). Each document
    is read (detoasted) once, however many tags pick from it, and none at all while no tag
    matches (``EXISTS`` is checked once, before any instance is read: the common case of an
    ingest batch in an archive without extended query tags)."""
    series = _newest_upsert("extended_tag_series", "series_instance_uid", "Series")
    studies = _newest_upsert("extended_tag_study", "study_instance_uid", "Study")
    return f"""
WITH tags AS (
    SELECT tag_key, path, vr, level, private_creator,
        substr(path, 1, 4) || '00' || substr(path, 5, 2) AS creator_path
    FROM extended_query_tag WHERE {tags}
), picked AS MATERIALIZED (
    SELECT t.tag_key, t.level, t.vr, i.study_instance_uid, i.series_instance_uid,
        i.sop_instance_uid, i.version, d.doc -> t.path AS element,
        dicom_offset_minutes(d.doc -> '00080201' -> 'Value' ->> 0) AS zone
    FROM instance i
    CROSS JOIN LATERAL (SELECT i.metadata || '{{}}'::jsonb AS doc OFFSET 0) d
    CROSS JOIN tags t
    WHERE EXISTS (SELECT FROM tags) AND {instances} AND d.doc ? t.path
        AND (t.private_creator IS NULL
        OR d.doc -> t.creator_path -> 'Value' ->> 0 = t.private_creator)
), checked AS MATERIALIZED (
    SELECT p.*, dicom_tag_value_error(p.element, p.vr) AS error FROM picked p
    WHERE coalesce(jsonb_array_length(p.element -> 'Value'), 0) > 0
), valued AS MATERIALIZED (
    SELECT tag_key, level, study_instance_uid, series_instance_uid, sop_instance_uid, version,
        CASE WHEN vr <> 'PN' AND vr NOT IN {_NUMBERS} THEN element -> 'Value' ->> 0 END
            AS text_value,
        CASE WHEN vr = 'PN' THEN element -> 'Value' -> 0 ->> 'Alphabetic' END AS name_value,
        CASE WHEN vr IN {_NUMBERS} THEN (element -> 'Value' ->> 0)::float8 END AS number_value,
        CASE WHEN vr = 'DT' THEN dicom_utc_moment(element -> 'Value' ->> 0, zone) END
            AS moment_value,
        CASE WHEN vr = 'DT' THEN (element -> 'Value' ->> 0) !~ '[+-][0-9]{{4}}$' AND zone IS NULL
            END AS moment_floating
    FROM checked WHERE error IS NULL
), instances AS (
    INSERT INTO extended_tag_instance (tag_key, sop_instance_uid, {_VALUES})
    SELECT tag_key, sop_instance_uid, {_VALUES} FROM valued WHERE level = 'Instance'
    ON CONFLICT (tag_key, sop_instance_uid) DO UPDATE SET {_UPDATE}
    RETURNING 1
), series AS (
    {series}
), studies AS (
    {studies}
), errors AS (
    INSERT INTO extended_tag_error (tag_key, sop_instance_uid, study_instance_uid,
        series_instance_uid, error_message)
    SELECT tag_key, sop_instance_uid, study_instance_uid, series_instance_uid, error
    FROM checked WHERE error IS NOT NULL
    ON CONFLICT (tag_key, sop_instance_uid) DO UPDATE
    SET error_message = EXCLUDED.error_message, created_at = now()
    RETURNING 1
)
SELECT (SELECT count(*) FROM errors) AS errors
"""


STORED = _statement("status IN ('Adding', 'Ready')", "i.sop_instance_uid = ANY($1::text[])")
_RANGE = _statement(
    "tag_key = ANY($1::int[]) AND status = 'Adding'",
    "i.sop_instance_uid > $2 AND i.sop_instance_uid <= $3",
)


async def index_stored(conn: asyncpg.Connection, work: BatchWork) -> None:
    """Index the instances an ingest batch created or replaced for every extended query tag
    that is being added or is ready; in the batch's transaction, so they are searchable by
    their tags as soon as their store is answered."""
    stored = [row.sop for row in work.feed if row.action != FeedAction.DELETE]
    if stored:
        await conn.fetchval(STORED, stored)


async def index_range(conn: asyncpg.Connection, tag_keys: list[int], after: str, last: str) -> int:
    """Index the instances whose SOP Instance UIDs are in (``after``, ``last``] for the tags
    ``tag_keys`` that are being added; the number of values that could not be indexed."""
    errors: int = await conn.fetchval(_RANGE, tag_keys, after, last)
    return errors
