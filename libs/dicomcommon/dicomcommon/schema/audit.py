"""The audit trail's reads of ``audit_event`` (``GET /dicom-web/audit``,
``services/qido/qido/audittrail.py``): one filter per parameter, newest first."""

from __future__ import annotations

# The fields of ``dicomcommon.web.audit.AuditEvent``, as the answer lists them.
COLUMNS = (
    "event_id, occurred_at, service, action, method, path, query, user_subject, user_name,"
    " client_address, study_uids, series_uids, instance_uids, instance_count, status, outcome,"
    " request_id"
)
# Each filter, its value as ``?`` (numbered when the statement is put together).
FILTERS = {
    "user": "(user_subject = ? OR user_name = ?)",
    "study": "study_uids @> ARRAY[?::text]",
    "action": "action = ?",
    "from": "occurred_at >= ?",
    "to": "occurred_at < ?",
}


def page(conditions: list[str], limit: int, offset: int) -> str:
    """The events matching every condition (all of them when none), newest first."""
    return (
        f"SELECT {COLUMNS} FROM audit_event WHERE {' AND '.join(conditions) or 'true'}"
        f" ORDER BY occurred_at DESC, event_id DESC LIMIT {int(limit)} OFFSET {int(offset)}"
    )
