"""The push relay: committed change-feed rows, in sequence order, onto the ``DICOM_FEED``
JetStream stream, so subscribers replay from any point and never miss an entry.

It reads only committed rows (after the indexer's transaction), so a crash between commit and
publish loses nothing. ``Nats-Msg-Id`` = sequence makes a re-publish after a crash between
publish and bookkeeping a no-op for the stream; where it stopped is the ``feed_relay`` row
in PostgreSQL, raised to the stream's own last entry on election (the stream's max age may have
expired it: then the row alone counts). One relaying replica at a time: the one holding a
session advisory lock on its own connection, so a wake-up is one round trip, recording the
last batch's position and reading the next page in one statement (no claim, no transaction
block); a lost connection loses the lock and its holder stops with it.
Subjects: ``dicom.feed.create`` / ``.update`` / ``.delete``.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import nats.js.errors
import orjson

from dicomcommon.adapters import changefeed, db
from dicomcommon.adapters.bus import Bus
from dicomcommon.adapters.feedwatch import FeedWatch
from dicomcommon.schema import feed
from dicomcommon.settings import NatsSettings
from dicomcommon.web import publicbase

log = logging.getLogger(__name__)

BATCH = 256  # rows published per wake-up
IDLE_RECHECK_SECONDS = 1.0  # fallback poll when no notification arrives
ACK_TIMEOUT_SECONDS = 10.0
_HEADROOM = 1024  # for the message headers within the server's max_payload

_SAME_ROW = "SELECT true FROM change_feed WHERE sequence = $1 AND sop_instance_uid = $2"
_LOCK_KEY = 0x44494652  # one relaying replica at a time
_ELECT = "SELECT pg_try_advisory_lock($1)"
_POSITION = "SELECT last_sequence FROM feed_relay"
# The previous batch's position is recorded by the statement that reads the next page; it
# commits without waiting for its WAL flush (``synchronous_commit`` off for this statement's
# transaction only): a position lost in a crash is found again from the stream's own last entry
# (``_elected``), and a re-published entry is dropped by its message id.
_ADVANCE_AND_PAGE = f"""
WITH advance AS (
    UPDATE feed_relay SET last_sequence = $1
    WHERE last_sequence < $1 AND set_config('synchronous_commit', 'off', true) = 'off'
)
{feed.RELAY_PAGE}
"""


class Relay:
    """Publishes feed rows until cancelled, while elected."""

    def __init__(
        self, pool: asyncpg.Pool, bus: Bus, nats: NatsSettings, public_base_url: str
    ) -> None:
        self.pool = pool  # its connections may hold session state: the lock is released
        self.bus = bus
        self.nats = nats
        self.replacement = publicbase.bulk_replacement(public_base_url)

    async def run(self, watch: FeedWatch) -> None:
        """Relay for ever: hold a connection, get elected on it, relay; after an error start
        again (on a fresh connection: the lock goes with the old one)."""
        await self.bus.connected.wait()
        while True:
            try:
                async with db.connection(self.pool) as conn:
                    await self._lead(conn, watch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change-feed relay interrupted: %s", exc)
                await asyncio.sleep(1)

    async def _lead(self, conn: asyncpg.Connection, watch: FeedWatch) -> None:
        """Wait to be elected, then relay on this connection; sleep until the feed grows (or
        the fallback poll) when caught up."""
        await self._elect(conn)
        # From here the lock is this connection's until it goes back to the pool (whose reset
        # releases every advisory lock) or is lost.
        position = await self._elected(conn)
        while True:
            mark = watch.mark()
            position, published = await self.relay_once(conn, position)
            if published < BATCH:
                await watch.wait(mark, IDLE_RECHECK_SECONDS)

    async def _elect(self, conn: asyncpg.Connection) -> None:
        """Return once this connection holds the relay's lock (another replica may hold it:
        then try again every ``IDLE_RECHECK_SECONDS``)."""
        while True:
            if await conn.fetchval(_ELECT, _LOCK_KEY):
                return
            await asyncio.sleep(IDLE_RECHECK_SECONDS)

    async def relay_once(self, conn: asyncpg.Connection, position: int) -> tuple[int, int]:
        """Record ``position``, publish the next batch after it; returns the new position and
        how many were published."""
        rows = await conn.fetch(_ADVANCE_AND_PAGE, position, BATCH)
        await self._publish(rows)
        return (rows[-1]["sequence"] if rows else position), len(rows)

    async def _elected(self, conn: asyncpg.Connection) -> int:
        """Where to go on from: the recorded position, raised to the stream's own last entry."""
        recorded = await conn.fetchval(_POSITION)
        return int(max(recorded, await self._stream_position(conn)))

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        """Publish in order without waiting for each ack, then wait for all of them: one
        connection keeps the order, and a failed ack keeps the position, so the whole batch
        goes again (the retry's duplicates are dropped by their message ids)."""
        if not rows:
            return
        nc, js = self.bus.require()
        acks = []
        for row in rows:
            acks.append(
                await js.publish_async(
                    changefeed.subject(self.nats.feed_subject_prefix, row["action"]),
                    self._payload(row, nc.max_payload - _HEADROOM),
                    headers={"Nats-Msg-Id": str(row["sequence"])},
                )
            )
        async with asyncio.timeout(ACK_TIMEOUT_SECONDS):
            await asyncio.gather(*acks)

    def _payload(self, row: asyncpg.Record, limit: int) -> bytes:
        """The entry as JSON; without its metadata when that would pass the server's payload
        limit (subscribers read it from ``/changefeed``), so a huge header never stalls us."""
        payload = changefeed.encode(changefeed.entry(row, self.replacement))
        if len(payload) > limit:
            payload = changefeed.encode(changefeed.entry(row, None))
        return payload

    async def _stream_position(self, conn: asyncpg.Connection) -> int:
        """The sequence of the stream's last entry when it belongs to this feed's history
        (same sequence and SOP Instance UID in ``change_feed``), else 0: a stream kept across
        a wiped database must not make the relay skip the new history."""
        _, js = self.bus.require()
        info = await js.stream_info(self.nats.feed_stream)
        if not info.state.last_seq:
            return 0
        try:
            message = await js.get_msg(self.nats.feed_stream, seq=info.state.last_seq)
        except nats.js.errors.NotFoundError:
            return 0  # aged out (max age) or removed: the feed_relay row is the position
        last = orjson.loads(message.data or b"{}")
        sequence, sop = last.get("sequence"), last.get("sopInstanceUid")
        if not isinstance(sequence, int) or not await conn.fetchval(_SAME_ROW, sequence, sop):
            return 0
        return sequence
