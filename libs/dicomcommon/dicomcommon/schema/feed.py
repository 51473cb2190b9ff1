"""The change feed's reads of ``change_feed`` (and of the ``instance`` rows its entries refer
to): the pages and the newest entry the HTTP feed serves (``services/qido/qido/changefeed.py``)
and the pages the indexer's push relay publishes (``services/indexer/indexer/relay.py``).
Each row is shaped into an entry by ``dicomcommon.adapters.changefeed.entry``.
"""

from __future__ import annotations

from dicomcommon import studyaccess

# The ``change_feed`` columns an entry is built from, for ``SELECT ... FROM change_feed f``.
COLUMNS = (
    "f.sequence, f.timestamp, f.action, f.study_instance_uid, f.series_instance_uid, "
    "f.sop_instance_uid, f.version, f.sop_class_uid"
)
# Text, spliced into the answer unparsed. A Create / Update row refers to the metadata of the
# instance version it wrote (``instance i``, joined on the SOP Instance UID) instead of
# copying it; the indexer copies the text into the row only when that version leaves the
# index (deleted or replaced), so an entry always reads the metadata as of its event. Rows
# from before 0008 hold only the jsonb copy.
METADATA_COLUMN = (
    "coalesce(f.metadata_text, CASE WHEN i.version = f.version AND f.action <> 'Delete'"
    " THEN i.metadata_text END, f.metadata::text) AS metadata"
)
# What ``METADATA_COLUMN`` reads the instance through.
INSTANCE_JOIN = "LEFT JOIN instance i ON i.sop_instance_uid = f.sop_instance_uid"

# The relay's page: committed rows after ``$1``, at most ``$2``, in sequence order.
RELAY_PAGE = f"""
SELECT {COLUMNS}, {METADATA_COLUMN}
FROM change_feed f {INSTANCE_JOIN}
WHERE f.sequence > $1 ORDER BY f.sequence LIMIT $2
"""

# ``state`` at read time: ``Current`` while the instance holds this entry's version.
_STATE = """CASE WHEN i.sop_instance_uid IS NULL THEN 'Deleted'
    WHEN i.version = f.version THEN 'Current' ELSE 'Replaced' END AS state"""
_LATEST = "ORDER BY f.sequence DESC LIMIT 1"


def visible(groups_parameter: str) -> str:
    """An entry the caller may read: the study's groups while it exists, else those its entry
    recorded, share one with the parameter (probes the study's key)."""
    return studyaccess.shares_group_sql(
        "coalesce((SELECT s.access_groups FROM study s"
        " WHERE s.study_instance_uid = f.study_instance_uid), f.access_groups)",
        groups_parameter,
    )


def select(include_metadata: bool) -> str:
    """The entry columns with ``state`` (and the metadata), from the feed and its instances."""
    metadata = f", {METADATA_COLUMN}" if include_metadata else ""
    return f"SELECT {COLUMNS}, {_STATE}{metadata} FROM change_feed f {INSTANCE_JOIN}"


def _filter(groups: bool) -> tuple[str, int]:
    """The study-group condition (``$1``) and how many parameters it takes."""
    return (f"{visible('$1')} AND ", 1) if groups else ("", 0)


def after_sequence(include_metadata: bool, groups: bool) -> str:
    """v1: entries after the sequence, skipping and limiting (the next three parameters)."""
    visible_only, n = _filter(groups)
    return (
        f"{select(include_metadata)} WHERE {visible_only}f.sequence > ${n + 1}"
        f" ORDER BY f.sequence OFFSET ${n + 2} LIMIT ${n + 3}"
    )


def within_window(include_metadata: bool, groups: bool) -> str:
    """v2: entries of ``[start, end)`` (either open when NULL), skipping and limiting."""
    visible_only, n = _filter(groups)
    return (
        f"{select(include_metadata)} WHERE {visible_only}"
        f"(${n + 1}::timestamptz IS NULL OR f.timestamp >= ${n + 1})"
        f" AND (${n + 2}::timestamptz IS NULL OR f.timestamp < ${n + 2})"
        f" ORDER BY f.sequence OFFSET ${n + 3} LIMIT ${n + 4}"
    )


def latest(include_metadata: bool, groups: bool) -> str:
    """The newest entry (the newest the caller may see, with ``groups`` as ``$1``)."""
    if not groups:
        return f"{select(include_metadata)} {_LATEST}"
    return f"{select(include_metadata)} WHERE {visible('$1')} {_LATEST}"
