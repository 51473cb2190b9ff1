"""What every QIDO handler needs (searches, the feed, the audit trail), built once in the
lifespan and kept on ``app.state.ctx``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from qido.settings import Settings


@dataclass(frozen=True, slots=True)
class QidoContext:
    """What every request needs, built once in the lifespan."""

    pool: asyncpg.Pool
    settings: Settings
