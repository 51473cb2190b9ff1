"""The indexer's long-running loops share one rule: an error other than cancellation is logged
and the loop starts again a second later (after an outage, its next step reconnects)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def resume_forever(name: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` again and again; an exception interrupts it for a second, never for good."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s interrupted (%s); resuming", name, exc)
            await asyncio.sleep(1)
