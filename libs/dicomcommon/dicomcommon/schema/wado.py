"""WADO's reads of the ``instance`` table: which blobs make up a resource, the byte maps of
one instance, the metadata validator and the metadata pages (``services/wado/wado/index.py``
runs them); and of ``change_feed``: the instances stored lately, whose pictures are rendered
ahead of their first request (``services/wado/wado/prerender.py``).

Each statement takes the WHERE clause of a resource (``scope_condition``): its UIDs as
parameters, so PostgreSQL always uses the primary key or the ``instance_study`` index, and,
with study groups, one probe of the study row (``studyaccess.study_condition``).
"""

from __future__ import annotations

import functools

from dicomcommon import studyaccess
from dicomcommon.schema.rows import INSTANCE_BLOB_COLUMNS

# The columns of ``StoredInstance`` (an ``InstanceBlob`` and more), in its field order.
INSTANCE_COLUMNS = f"{INSTANCE_BLOB_COLUMNS}, size, number_of_frames, rows, version"
_ORDER = "ORDER BY series_instance_uid, sop_instance_uid"
_LEVELS = ("study_instance_uid", "series_instance_uid", "sop_instance_uid")


@functools.cache  # (a few shapes, asked for by every request)
def scope_condition(levels: int, first: int = 1, groups: bool = False) -> str:
    """The WHERE clause of a resource named by its first ``levels`` UIDs (study, series,
    instance) as ``$first``…; with ``groups``, the next parameter holds the caller's groups
    and the study (``$first``) must share one."""
    sql = " AND ".join(f"{c} = ${first + i}" for i, c in enumerate(_LEVELS[:levels]))
    if groups:
        sql += f" AND {studyaccess.study_condition(f'${first}', f'${first + levels}')}"
    return sql


@functools.cache  # (one per ``scope_condition``)
def instances(where: str) -> str:
    """Every instance of the resource, small rows, in series then instance order."""
    return f"SELECT {INSTANCE_COLUMNS} FROM instance WHERE {where} {_ORDER}"


def metadata_subset(keys_parameter: str) -> str:
    """Of an instance's metadata only the attributes named in the ``text[]`` parameter, so a
    frame request never decodes a large JSON document."""
    return (
        "(SELECT coalesce(jsonb_object_agg(k, metadata->k), '{}'::jsonb)"
        f" FROM unnest({keys_parameter}::text[]) AS k WHERE metadata ? k)"
    )


def instance_detail(where: str, metadata: str = "metadata") -> str:
    """One instance with its frame and bulk data maps and ``metadata`` (the column, or
    ``metadata_subset``)."""
    return (
        f"SELECT {INSTANCE_COLUMNS}, frames, bulk_data, {metadata} AS metadata"
        f" FROM instance WHERE {where}"
    )


def metadata_etag(where: str) -> str:
    """The count of the resource's instances and a digest of their UIDs and versions."""
    return (
        "SELECT count(*) AS n, md5(string_agg(sop_instance_uid || ':' || version::text, ','"
        f" ORDER BY sop_instance_uid)) AS digest FROM instance WHERE {where}"
    )


def metadata_page(where: str, page_size: int) -> str:
    """One page of the instances' DICOM JSON text after the keyset ``($1, $2)`` (series and
    instance UID); ``where`` numbers its parameters from ``$3``."""
    return (
        "SELECT series_instance_uid, sop_instance_uid, coalesce(metadata_text, metadata::text)"
        " FROM instance"
        f" WHERE {where} AND (series_instance_uid, sop_instance_uid) > ($1, $2)"
        f" {_ORDER} LIMIT {int(page_size)}"
    )


# Feed rows after sequence ``$1``, at most ``$2``, in sequence order: the pre-renderer's page.
FEED_SINCE = (
    "SELECT sequence, action, study_instance_uid, series_instance_uid, sop_instance_uid"
    " FROM change_feed WHERE sequence > $1 ORDER BY sequence LIMIT $2"
)
# The newest feed sequence (0 for an empty feed): where the pre-renderer starts.
FEED_LAST = "SELECT coalesce(max(sequence), 0) AS last FROM change_feed"
