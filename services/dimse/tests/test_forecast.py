"""``dimse.forecast.ForecastReads``: the forecasts of concurrent stores go to PostgreSQL as one
statement, each store gets its own row, and an outage fails each of them as an outage."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest

from dicomcommon.adapters import db
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import PostgresSettings
from dicomstack.stack import Stack
from dimse import forecast

pytestmark = pytest.mark.integration


def _uids(count: int) -> list[tuple[str, str]]:
    return [(f"2.25.{uuid.uuid4().int}", f"2.25.{uuid.uuid4().int}") for _ in range(count)]


async def test_concurrent_forecasts_are_one_statement_with_a_row_each(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[int] = []
    real_fetch = db.fetch

    async def counted(pool: Any, query: str, *args: Any) -> Any:
        statements.append(len(args[0]))
        return await real_fetch(pool, query, *args)

    monkeypatch.setattr(forecast.db, "fetch", counted)
    pool = await db.create_pool(PostgresSettings(url=stack.postgres_url), session_state=False)
    try:
        reads = forecast.ForecastReads(pool)
        asked = _uids(5)
        rows = await asyncio.gather(*(reads.row(sop, study) for sop, study in asked))
        assert statements == [5]
        assert [row["ord"] for row in rows] == [1, 2, 3, 4, 5]
        assert all(row["sha256"] is None and row["study_groups"] is None for row in rows)
        [(sop, study)] = _uids(1)
        await reads.row(sop, study)  # a lone store afterwards: a statement of its own
        assert statements == [5, 1]
    finally:
        await pool.close()


async def test_an_outage_fails_every_waiting_forecast_as_an_outage() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = int(s.getsockname()[1])
    url = f"postgresql://postgres@127.0.0.1:{dead}/postgres"
    pool = await db.create_pool(PostgresSettings(url=url), session_state=False)
    try:
        reads = forecast.ForecastReads(pool)
        asked = [reads.row(sop, study) for sop, study in _uids(3)]
        outcomes = await asyncio.gather(*asked, return_exceptions=True)
        assert all(isinstance(outcome, BackendUnavailable) for outcome in outcomes)
    finally:
        await pool.close()
