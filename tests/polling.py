"""Waiting for something a test caused to become true, within a bound."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(check: Callable[[], bool], seconds: float = 30, every: float = 0.1) -> bool:
    """True as soon as ``check()`` is; False if it is still false after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()
