"""Where pictures are decoded and encoded: a worker thread, or a pool of worker processes.

Most codecs (GDCM, libjpeg, CharLS) hold Python's GIL while they decode, so in a thread a large
first rendering stalls every other request of the process, cached pictures included (JPEG 2000,
decoded through imagecodecs by ``wado.jpeg2k``, releases it). With ``render_processes`` above 0
the work runs in that many worker processes instead (spawned, not forked, at the first
rendering): the stored frames go in, the picture comes out. A worker that dies (a codec
crashing on a corrupt frame) makes that picture a 406, and the next rendering starts a fresh
pool. The cap on conversions (``wado.conversions``) still bounds how many renderings run and
what they hold.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from dicomcommon.errors import NotAcceptable
from wado import decoders

T = TypeVar("T")


class RenderWorkers:
    """Runs blocking rendering work off the event loop: threads (0 processes) or processes."""

    def __init__(self, processes: int, decode_threads: int = 1) -> None:
        self.processes = processes
        self.decode_threads = decode_threads  # each worker's, for ``decoders.prefer_fastest``
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a worker; ``work`` and its arguments must pickle for processes."""
        if self.processes == 0:
            return await asyncio.to_thread(work, *args)
        pool = self._pool or self._start()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, work, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise NotAcceptable("the picture cannot be rendered: its decoder stopped") from None

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=decoders.prefer_fastest,
            initargs=(self.decode_threads,),
        )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
