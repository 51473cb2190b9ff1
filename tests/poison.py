"""A fault injected into the real PostgreSQL: a trigger that refuses studies whose PatientID
starts with ``POISON-``, with an error that is neither a data error nor an outage (as a value
past an index limit was). Tests install it, store, and remove it."""

from __future__ import annotations

import asyncpg

PREFIX = "POISON-"
INSTALL = f"""
CREATE OR REPLACE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.patient_id LIKE '{PREFIX}%' THEN
        RAISE EXCEPTION 'injected fault for %', NEW.patient_id;
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER test_poison BEFORE INSERT OR UPDATE ON study
    FOR EACH ROW EXECUTE FUNCTION test_poison();
"""
REMOVE = "DROP TRIGGER IF EXISTS test_poison ON study; DROP FUNCTION IF EXISTS test_poison()"


async def run(postgres_url: str, sql: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
