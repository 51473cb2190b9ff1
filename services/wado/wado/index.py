"""Reads of the index (the indexer's ``instance`` table): which blobs make up a resource, where
each frame and bulk data value sits in them, and the metadata computed at ingest.

WADO never writes. The statements are named in ``dicomcommon.schema.wado`` with the schema
they read; every query names its UIDs as parameters, and each resource level has its own
statement so PostgreSQL always uses the primary key or the ``instance_study`` index.
A scope limited to study groups (``studyaccess``) finds nothing in a study outside them, so
the caller gets the same 404 as for a study that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.requests import Request

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom import resources
from dicomcommon.dicom.uids import require_uid
from dicomcommon.errors import NotFound
from dicomcommon.schema import wado as reads
from dicomcommon.schema.rows import InstanceBlob
from dicomcommon.settings import StudyGroupsSettings


@dataclass(frozen=True)
class Scope:
    """A WADO-RS resource: a study, a series of it, or one instance (PS3.18 §10.4.1)."""

    study: str
    series: str | None = None
    instance: str | None = None
    groups: studyaccess.Groups | None = None  # only if the study is of these groups

    @classmethod
    def of(cls, path_params: dict[str, Any], groups: studyaccess.Groups | None = None) -> Scope:
        """Validate the UIDs of the URL before they reach a query: malformed is a 400."""
        study = require_uid(str(path_params["study"]), "StudyInstanceUID")
        series = path_params.get("series")
        instance = path_params.get("instance")
        return cls(
            study,
            require_uid(str(series), "SeriesInstanceUID") if series is not None else None,
            require_uid(str(instance), "SOPInstanceUID") if instance is not None else None,
            groups,
        )

    @classmethod
    def of_request(cls, request: Request, settings: StudyGroupsSettings) -> Scope:
        """The resource the request's URL names, limited to the study groups of its caller."""
        return cls.of(request.path_params, studyaccess.caller_groups(request.scope, settings))

    @property
    def level(self) -> str:
        return "instance" if self.instance else "series" if self.series else "study"

    def where(self, first: int = 1) -> tuple[str, list[Any]]:
        """The WHERE clause of this scope with ``$first``-numbered parameters; with groups,
        one probe of the study row (its UID is ``$first``) decides for every row."""
        values: list[Any] = [v for v in (self.study, self.series, self.instance) if v is not None]
        sql = reads.scope_condition(len(values), first, self.groups is not None)
        if self.groups is not None:
            values.append(list(self.groups))
        return sql, values


@dataclass(frozen=True)
class StoredInstance(InstanceBlob):
    """One indexed instance: where its blob is, how it is encoded, its size and pixels."""

    size: int
    number_of_frames: int | None
    rows: int | None
    version: int

    @property
    def has_pixel_data(self) -> bool:
        return self.rows is not None

    @property
    def instance_path(self) -> str:
        return resources.instance_path(
            self.study_instance_uid, self.series_instance_uid, self.sop_instance_uid
        )


@dataclass(frozen=True)
class InstanceDetail:
    """An instance plus the byte maps ingest computed, for frames and bulk data."""

    instance: StoredInstance
    frames: list[list[list[int]]]
    bulk_data: dict[str, list[int]]
    metadata: dict[str, Any]


def _stored(row: asyncpg.Record) -> StoredInstance:
    return StoredInstance(*(row[i] for i in range(10)))


async def instances(pool: db.Reader, scope: Scope) -> list[StoredInstance]:
    """Every instance in ``scope`` (small rows, no metadata); 404 when there is none."""
    where, values = scope.where()
    rows = await db.fetch(pool, reads.instances(where), *values)
    if not rows:
        raise NotFound(f"no instances in {scope.level} {_uid(scope)}")
    return [_stored(r) for r in rows]


async def instance_detail(
    pool: db.Reader, scope: Scope, metadata_keys: Sequence[str] | None = None
) -> InstanceDetail:
    """One instance with its frame and bulk data maps; of its metadata only ``metadata_keys``
    when given, so a frame request never decodes a large JSON document."""
    where, values = scope.where()
    metadata = "metadata"
    args: list[Any] = list(values)
    if metadata_keys is not None:
        args.append(list(metadata_keys))
        metadata = reads.metadata_subset(f"${len(args)}")
    row = await db.fetchrow(pool, reads.instance_detail(where, metadata), *args)
    if row is None:
        raise NotFound(f"no instance {_uid(scope)}")
    return InstanceDetail(
        _stored(row), row["frames"] or [], row["bulk_data"] or {}, row["metadata"]
    )


async def metadata_etag(pool: db.Reader, scope: Scope) -> str:
    """A strong validator of the scope's metadata: every instance's UID and version."""
    where, values = scope.where()
    row = await db.fetchrow(pool, reads.metadata_etag(where), *values)
    if row is None or not row["n"]:
        raise NotFound(f"no instances in {scope.level} {_uid(scope)}")
    return f'"{row["digest"]}"'


async def metadata_pages(pool: db.Reader, scope: Scope, page_size: int) -> AsyncIterator[list[str]]:
    """The instances' DICOM JSON as text, a page at a time by keyset, so a 10,000-instance
    study never sits in memory whole and no connection is held while the client reads."""
    where, values = scope.where(first=3)
    query = reads.metadata_page(where, page_size)
    after = ("", "")
    while True:
        rows = await db.fetch(pool, query, *after, *values)
        if not rows:
            return
        yield [r[2] for r in rows]
        if len(rows) < page_size:
            return
        after = (rows[-1][0], rows[-1][1])


def _uid(scope: Scope) -> str:
    return scope.instance or scope.series or scope.study
