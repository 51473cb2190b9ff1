"""The indexer applies the schema: the numbered SQL files of ``dicomcommon.schema``
(``migrations/``), applied once each, in order, under a lock."""

from __future__ import annotations

import logging

import asyncpg

from dicomcommon.schema import migration_files

log = logging.getLogger(__name__)
_LOCK_KEY = 0x44494347  # pg_advisory_lock key shared by every indexer replica


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply every migration not applied yet; safe when several replicas start together."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migration")}
        applied = []
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migration (version) VALUES ($1)", version)
            log.info("applied migration %s", version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
