"""The cap on conversions running at once in one process (WADO's transcodes, frame decodes,
renderings and anonymizations; DIMSE's C-MOVE / C-GET transcodes), and on the bytes they hold.

Each conversion holds its instance (or its frames) in memory on a worker thread; without a cap
a few concurrent large retrievals can exhaust a pod. A conversion waits up to ``wait_seconds``
for room, then gives up with ``ConversionsBusy`` (over HTTP a 503 with Retry-After; over DIMSE a
failed sub-operation). One conversion is always let in when none runs, so an instance under
``max_transcode_bytes`` is never refused for its size alone. The byte count is the stored size
(a frame's share of it for frame work): decoded pixels can be larger, so keep the cap well
under the pod's memory. ``ConversionLimits`` is the settings block both services share.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel, Field

from dicomcommon.errors import BackendUnavailable


class ConversionLimits(BaseModel):
    """The conversion settings of a service that converts (mixed into its ``Settings``)."""

    # Transcoding holds one instance in memory; larger instances are not transcoded (WADO: 406
    # or left out of a partial answer; DIMSE: a failed sub-operation).
    max_transcode_bytes: int = Field(default=1 << 30, ge=1 << 20)
    # Conversions running at once in one process, and the stored bytes they may hold together.
    max_conversions: int = Field(default=4, ge=1, le=1024)
    max_conversion_bytes: int = Field(default=1 << 30, ge=1 << 20)
    conversion_wait_seconds: float = Field(default=5.0, ge=0, le=300)

    def conversion_gate(self) -> ConversionGate:
        return ConversionGate(
            self.max_conversions, self.max_conversion_bytes, self.conversion_wait_seconds
        )


class ConversionsBusy(BackendUnavailable):
    """Every conversion slot (or the byte budget) is taken; the client should retry soon."""

    retry_after_seconds = 2


class ConversionGate:
    def __init__(self, max_running: int, max_bytes: int, wait_seconds: float) -> None:
        self.max_running = max_running
        self.max_bytes = max_bytes
        self.wait_seconds = wait_seconds
        self.running = 0
        self.held_bytes = 0
        self._changed = asyncio.Condition()

    def _fits(self, nbytes: int) -> bool:
        if self.running == 0:
            return True
        return self.running < self.max_running and self.held_bytes + nbytes <= self.max_bytes

    async def wait_idle(self) -> None:
        """Return once no conversion runs: background work goes only between requests'."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.running == 0)

    @asynccontextmanager
    async def admit(self, nbytes: int) -> AsyncIterator[None]:
        """Hold a slot and ``nbytes`` of the budget for the block; 503 if none frees in time."""
        async with self._changed:
            try:
                if not self._fits(nbytes):  # (wait_for with 0 s would not even look once)
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._fits(nbytes)), self.wait_seconds
                    )
            except TimeoutError:
                raise ConversionsBusy(
                    f"{self.running} conversions are running (cap {self.max_running}, "
                    f"{self.max_bytes >> 20} MiB); retry shortly"
                ) from None
            self.running += 1
            self.held_bytes += nbytes
        try:
            yield
        finally:
            async with self._changed:
                self.running -= 1
                self.held_bytes -= nbytes
                self._changed.notify_all()
