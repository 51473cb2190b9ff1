"""Typed records that travel on NATS: ingest commands, their outcomes, and change-feed entries.

Subjects look like ``dicom.ingest.store``; outcomes go to the subject the command names in
``reply_subject`` (one per STOW / DELETE process), so a caller can wait for the indexer: one
message per applied batch and subject, a JSON array of ``Outcome``.
A store whose metadata would make the command larger than NATS takes carries it in a blob
instead (``metadata_key``, an ``OffloadedMetadata`` document written before the command).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from dicomcommon.schema.rows import InstanceBlob

STORE_SUBJECT = "store"
DELETE_SUBJECT = "delete"


class Frame(BaseModel):
    """Where one frame's bytes sit inside the stored blob (encapsulated: possibly several
    fragments, each an (offset, length) pair)."""

    model_config = ConfigDict(frozen=True)

    fragments: list[tuple[int, int]]


class IngestCommand(BaseModel):
    """What every ingest command carries: its id (the JetStream message id, so a retried
    publish is dropped), the request it serves, and where its outcome goes (``None``: nobody
    waits for it)."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    request_id: str
    reply_subject: str | None = None


class InstanceStored(IngestCommand, InstanceBlob):
    """A new version of an instance was written to blob storage; the indexer makes it visible.
    Its UIDs, SOP class, transfer syntax and blob key are the fields of ``InstanceBlob`` (the
    row a retrieve reads back), declared once there."""

    kind: Literal["store"] = "store"
    size: int
    sha256: str
    metadata: dict[str, Any]
    frames: list[Frame] = Field(default_factory=list)
    bulk_data: dict[str, tuple[int, int]] = Field(default_factory=dict)
    allow_replace: bool = False
    # Study access groups (``dicomcommon.studyaccess``): the groups a study this command
    # creates gets, and the groups of the existing studies the uploader may add to (``None``:
    # any study, as when study groups are off or the uploader is an admin).
    access_groups: list[str] = Field(default_factory=list)
    uploader_groups: list[str] | None = None
    # Set when metadata, frames and bulk_data travel in this blob (then empty here).
    metadata_key: str | None = None


class InstancesStored(BaseModel):
    """Several stores of one request in one message (batch by request): one publish and one
    stream ack for the group. The indexer applies each as its own command under the group's
    version, in order, so a store that fails is parked alone."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["stores"] = "stores"
    instances: list[InstanceStored]

    @staticmethod
    def frame(commands: list[bytes]) -> bytes:
        """The group's JSON around its commands, each encoded once already (``encode``)."""
        return b'{"kind":"stores","instances":[' + b",".join(commands) + b"]}"


class OffloadedMetadata(BaseModel):
    """What a store command carries when it is too large for one NATS message."""

    metadata: dict[str, Any]
    frames: list[Frame] = Field(default_factory=list)
    bulk_data: dict[str, tuple[int, int]] = Field(default_factory=dict)


class DeleteRequested(IngestCommand):
    """Delete a study, a series of it, or one instance (the narrowest UID given)."""

    kind: Literal["delete"] = "delete"
    study_instance_uid: str
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    # The groups of the studies the caller may delete (``None``: any study); a study outside
    # them is answered ``not_found``, as if it did not exist.
    access_groups: list[str] | None = None


class OutcomeStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # identical bytes already stored: success, nothing changed
    REPLACED = "replaced"
    CONFLICT = "conflict"  # same SOP Instance UID, other content, replacing not allowed
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    STALE = "stale"  # a newer command for the same instance was applied first
    REFUSED = "refused"  # the study exists and the uploader is outside its access groups
    FAILED = "failed"


class Outcome(BaseModel):
    """The indexer's answer to one command, sent after its transaction committed."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    status: OutcomeStatus
    sequence: int
    deleted_instances: int = 0
    detail: str = ""


class FeedAction(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


def encode(command: BaseModel) -> bytes:
    """A command or document as JSON, by orjson: its metadata holds plain JSON values already,
    which pydantic's serializer would walk element by element as ``Any`` (a large share of a
    store's CPU) to write the same bytes."""
    return orjson.dumps(dict(command), default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
