"""The index schema's version as a reader sees it: the newest migration the indexer applied
(its ``schema_migration`` table) against the newest one shipped beside this code.

The migrations ship in this package with every service, so the newest migration file is the
schema this code was written for. A reader replica is not ready
until PostgreSQL has it, so a rollout waits for its migration instead of answering with SQL
the old schema cannot run.
"""

from __future__ import annotations

import asyncpg

from dicomcommon.adapters import db
from dicomcommon.schema import MIGRATIONS


def migration_number(name: str) -> int:
    """``0011_timezone_matching`` (or its file name) -> 11."""
    return int(name.split("_", 1)[0])


def shipped_version() -> int:
    """The number of the newest migration file shipped with this code."""
    return max(migration_number(f.name) for f in MIGRATIONS.iterdir() if f.name.endswith(".sql"))


async def applied_version(pool: asyncpg.Pool) -> int:
    """The newest migration applied to the database; 0 before the first one."""
    try:
        row = await db.fetchrow(pool, "SELECT max(version) AS version FROM schema_migration")
    except asyncpg.exceptions.UndefinedTableError:
        return 0
    return migration_number(row["version"]) if row and row["version"] else 0


class SchemaGate:
    """A readiness gate: passes once the database has the ``required`` schema version, and
    from then on without asking again (a schema never goes back), so a later PostgreSQL
    outage does not take every replica out of its Service; requests then answer 503 with
    Retry-After themselves."""

    __name__ = "schema"

    def __init__(self, pool: asyncpg.Pool, required: int) -> None:
        self.pool = pool
        self.required = required
        self.met = False

    async def __call__(self) -> None:
        if self.met:
            return
        applied = await applied_version(self.pool)
        if applied < self.required:
            raise RuntimeError(f"schema version {applied}; this code needs {self.required}")
        self.met = True
