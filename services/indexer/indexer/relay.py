"""The push relay: committed change-feed rows, in sequence order, onto the ``DICOM_FEED``
JetStream stream, so subscribers replay from any point and never miss an entry.

It reads only committed rows (after the indexer's transaction), so a crash between commit and
publish loses nothing. ``Nats-Msg-Id`` = sequence makes a re-publish after a crash between
publish and bookkeeping a no-op for the stream; where it stopped is the ``feed_relay`` row
in PostgreSQL, raised to the stream's own last entry at start and after errors when that entry
is still held (the stream's max age may have expired it: then the row alone counts). That
row's lock elects one relaying replica at a time. Subjects: ``dicom.feed.create`` /
``.update`` / ``.delete``.
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

BATCH = 256  # rows published per transaction
IDLE_RECHECK_SECONDS = 1.0  # fallback poll when no notification arrives
ACK_TIMEOUT_SECONDS = 10.0
_HEADROOM = 1024  # for the message headers within the server's max_payload

_SAME_ROW = "SELECT true FROM change_feed WHERE sequence = $1 AND sop_instance_uid = $2"
# The advance commits without waiting for its WAL flush (``synchronous_commit`` off for this
# transaction only): a position lost in a crash is found again from the stream's own last
# entry (``check_stream``), and a re-published entry is dropped by its message id.
_ADVANCE = """
UPDATE feed_relay SET last_sequence = $1
WHERE last_sequence < $1 AND set_config('synchronous_commit', 'off', true) = 'off'
"""


class Relay:
    """Publishes feed rows until cancelled; ``check_stream`` is set when the bookkeeping may lag
    the stream (a fresh process, or after an error)."""

    def __init__(
        self, pool: asyncpg.Pool, bus: Bus, nats: NatsSettings, public_base_url: str
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.nats = nats
        self.replacement = publicbase.bulk_replacement(public_base_url)
        self.check_stream = True

    async def run(self, watch: FeedWatch) -> None:
        """Relay for ever; sleep until the feed grows (or the fallback poll) when caught up."""
        await self.bus.connected.wait()
        while True:
            mark = watch.mark()
            try:
                published = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change-feed relay interrupted: %s", exc)
                self.check_stream = True
                await asyncio.sleep(1)
                continue
            if published < BATCH:
                await watch.wait(mark, IDLE_RECHECK_SECONDS)

    async def relay_once(self) -> int:
        """Publish the next batch after the last relayed sequence; returns how many. Zero too
        when another replica holds the relay row."""
        async with db.connection(self.pool) as conn, conn.transaction():
            if self.check_stream:
                rows = await self._checked_page(conn)
            else:
                page = await conn.fetch(feed.RELAY_CLAIM_AND_PAGE, BATCH)
                rows = [row for row in page if row["sequence"] is not None]
            await self._publish(rows)
            if rows:
                await conn.execute(_ADVANCE, rows[-1]["sequence"])
        return len(rows)

    async def _checked_page(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """The claim, raised to the stream's own last entry, then the page after it."""
        last = await conn.fetchval(feed.RELAY_CLAIM)
        if last is None:
            return []
        last = max(last, await self._stream_position(conn))
        rows = list(await conn.fetch(feed.RELAY_PAGE, last, BATCH))
        self.check_stream = False
        if not rows:
            await conn.execute(_ADVANCE, last)
        return rows

    async def _publish(self, rows: list[asyncpg.Record]) -> None:
        """Publish in order without waiting for each ack, then wait for all of them: one
        connection keeps the order, and a failed ack rolls the whole batch back to retry
        (the retry's duplicates are dropped by their message ids)."""
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
