"""Searches that read stored documents run with PostgreSQL's parallel workers.

A key no index holds (an undeclared attribute) is matched in each candidate's stored DICOM
JSON: a search over 20,000 instances reads 20,000 documents of several KB, about 7 µs each on
one core. Those reads are the same work whichever process does it, so the statement is allowed
to share them among parallel workers on a server with idle cores. PostgreSQL plans parallel
scans only of tables past ``min_parallel_table_scan_size`` (8 MB: a study table of some
130,000 instances); for these statements alone (``SET LOCAL``, one transaction) every size
qualifies and up to ``workers`` may help, and the planner still keeps a plan serial when
starting workers costs more than it saves. Indexed searches never come here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from dicomcommon.adapters import db

_PARALLEL = (
    "SELECT set_config('max_parallel_workers_per_gather', $1, true), "
    "set_config('min_parallel_table_scan_size', '0', true), "
    "set_config('min_parallel_index_scan_size', '0', true)"
)


async def fetch_in_parallel(
    pool: asyncpg.Pool, workers: int, text: str, args: Sequence[Any]
) -> list[asyncpg.Record]:
    """Run ``text`` allowing up to ``workers`` parallel workers; the settings end with its
    transaction, so the connection goes back to the pool as it came."""
    async with db.connection(pool) as conn, conn.transaction():
        await conn.execute(_PARALLEL, str(workers))
        return list(await conn.fetch(text, *args))
