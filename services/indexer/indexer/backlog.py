"""The indexer's backlogs as Prometheus gauges, measured every few seconds in the background
(never per request): ingest commands not yet applied and the age of the oldest, change-feed rows
committed but not yet relayed to the feed stream and the age of the oldest, blobs queued for
removal and those whose removal failed at least once. Every replica measures the same shared
backlogs, so a dashboard takes their ``max``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg
import nats.js.errors
from nats.js import JetStreamContext
from prometheus_client import Gauge

from dicomcommon.adapters import db
from dicomcommon.adapters.bus import Bus
from dicomcommon.settings import NatsSettings

log = logging.getLogger(__name__)

INGEST_PENDING = Gauge(
    "dicomweb_ingest_pending_commands", "Ingest commands in the stream, not yet applied"
)
INGEST_AGE = Gauge(
    "dicomweb_ingest_oldest_command_age_seconds",
    "Age of the oldest ingest command not yet applied (0 when none waits)",
)
FEED_PENDING = Gauge(
    "dicomweb_feed_relay_pending_entries",
    "Change-feed rows committed but not yet published on the feed stream",
)
FEED_AGE = Gauge(
    "dicomweb_feed_relay_lag_seconds",
    "Age of the oldest change-feed row not yet published (0 when none waits)",
)
CLEANUP_PENDING = Gauge("dicomweb_blob_cleanup_pending_blobs", "Blobs queued for removal")
CLEANUP_RETRYING = Gauge(
    "dicomweb_blob_cleanup_retrying_blobs", "Queued blobs whose removal failed at least once"
)

_DATABASE_BACKLOGS = """
SELECT
    (SELECT count(*) FROM change_feed f WHERE f.sequence > r.last_sequence) AS feed_pending,
    (SELECT extract(epoch FROM clock_timestamp() - f.timestamp) FROM change_feed f
     WHERE f.sequence > r.last_sequence ORDER BY f.sequence LIMIT 1) AS feed_age,
    (SELECT count(*) FROM blob_cleanup) AS cleanup_pending,
    (SELECT count(*) FROM blob_cleanup WHERE attempts > 0) AS cleanup_retrying
FROM feed_relay r
"""


async def measure_ingest(js: JetStreamContext, stream: str, subjects: str) -> None:
    """The work queue holds exactly the commands not yet acknowledged; its first is the oldest."""
    state = (await js.stream_info(stream)).state
    INGEST_PENDING.set(state.messages)
    age = 0.0
    if state.messages:
        try:
            first = await js.get_msg(stream, seq=state.first_seq, subject=subjects, next=True)
        except nats.js.errors.NotFoundError:
            first = None  # applied meanwhile
        if first is not None and first.time is not None:
            age = max(0.0, (datetime.now(UTC) - first.time).total_seconds())
    INGEST_AGE.set(age)


async def measure_database(pool: asyncpg.Pool) -> None:
    async with db.connection(pool) as conn:
        row = await conn.fetchrow(_DATABASE_BACKLOGS)
    if row is None:
        return  # schema not migrated yet
    FEED_PENDING.set(row["feed_pending"])
    FEED_AGE.set(float(row["feed_age"] or 0))
    CLEANUP_PENDING.set(row["cleanup_pending"])
    CLEANUP_RETRYING.set(row["cleanup_retrying"])


async def run(pool: asyncpg.Pool, bus: Bus, nats_settings: NatsSettings, interval: float) -> None:
    """Measure for ever; during an outage the gauges keep their last values (readiness and
    the request metrics tell of the outage)."""
    subjects = f"{nats_settings.ingest_subject_prefix}.>"
    await bus.connected.wait()
    while True:
        try:
            _, js = bus.require()
            await measure_ingest(js, nats_settings.ingest_stream, subjects)
            await measure_database(pool)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("backlog metrics not measured: %s", exc)
        await asyncio.sleep(interval)
