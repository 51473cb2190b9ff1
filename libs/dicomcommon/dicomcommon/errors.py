"""The error tree and the DICOM failure reasons; one handler turns them into responses.

DicomwebError (400)
 ├── InvalidInstance   (400, carries a FailureReason: per-instance STOW failures)
 ├── InvalidQuery      (400)
 ├── Forbidden         (403: the caller lacks the permission a route needs)
 ├── NotFound          (404)
 ├── NotAcceptable     (406)
 ├── Conflict          (409)
 ├── PayloadTooLarge   (413)
 ├── UnsupportedMediaType (415)
 ├── ProcessingFailure    (500: the indexer reported that it could not apply a command)
 └── BackendUnavailable   (503 with Retry-After: PostgreSQL, NATS or storage outages)
"""

from __future__ import annotations

from enum import IntEnum


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) values, PS3.4 Annex GG.4-1 and PS3.18 §10.5.3."""

    PROCESSING_FAILURE = 0x0110  # PS3.4 C.4.2.1.4: generic processing failure
    NO_SUCH_SOP_CLASS = 0x0118
    NOT_AUTHORIZED = 0x0124  # PS3.7 Annex C, "Refused: Not Authorized": study access groups
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    # Microsoft's DICOM server's codes, so its clients understand us:
    STUDY_UID_MISMATCH = 43265  # 0xA901: Study Instance UID does not match the request URL
    DUPLICATE_SOP_INSTANCE = 45070  # the SOP instance already exists with other content


class WarningReason(IntEnum):
    """Warning Reason (0008,1196) values, PS3.18 §10.5.3."""

    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xB007


class DicomwebError(Exception):
    """Base of every error that becomes an HTTP answer."""

    status = 400

    def __init_subclass__(cls, status: int | None = None, **kwargs: object) -> None:
        """A subclass names its HTTP status in its header, ``class NotFound(DicomwebError,
        status=404)``; without one it keeps its parent's."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInstance(DicomwebError):
    """A stored part that cannot be accepted; reported per instance in a STOW response."""

    def __init__(
        self,
        message: str,
        reason: FailureReason = FailureReason.CANNOT_UNDERSTAND,
        sop_class_uid: str | None = None,
        sop_instance_uid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


class InvalidQuery(DicomwebError, status=400): ...


class Forbidden(DicomwebError, status=403): ...


class NotFound(DicomwebError, status=404): ...


class NotAcceptable(DicomwebError, status=406): ...


class Conflict(DicomwebError, status=409): ...


class PayloadTooLarge(DicomwebError, status=413): ...


class UnsupportedMediaType(DicomwebError, status=415): ...


class ProcessingFailure(DicomwebError, status=500):
    """The indexer tried the command and refused it for good (not an outage: a retry would
    fail the same way); the answer says so instead of claiming success."""


class BackendUnavailable(DicomwebError, status=503):
    """A backing service (PostgreSQL, NATS, storage) does not answer; clients should retry."""

    retry_after_seconds = 5
