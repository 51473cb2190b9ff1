"""Rendering work runs in a thread, or in worker processes that a crash does not take down
for good: the picture whose worker died is a 406, the next one gets a fresh pool."""

from __future__ import annotations

import os
import threading

import pytest

from dicomcommon.errors import NotAcceptable
from wado.render_workers import RenderWorkers


async def test_without_processes_the_work_runs_in_a_thread_of_this_process() -> None:
    workers = RenderWorkers(0)
    assert await workers.run(os.getpid) == os.getpid()
    assert await workers.run(threading.get_ident) != threading.get_ident()


async def test_a_worker_that_dies_is_a_406_and_the_next_picture_gets_a_new_worker() -> None:
    workers = RenderWorkers(1)
    try:
        assert await workers.run(os.getpid) != os.getpid()
        with pytest.raises(NotAcceptable, match="decoder stopped"):
            await workers.run(os._exit, 1)
        assert await workers.run(os.getpid) != os.getpid()
    finally:
        workers.close()
