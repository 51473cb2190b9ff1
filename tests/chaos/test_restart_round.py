"""The launcher's watch heals a crash that happens while it restarts something else: a NATS
killed while STOW starts (STOW's readiness needs NATS) is brought back in the same round, so
STOW comes up instead of waiting out its start-up timeout and failing."""

from __future__ import annotations

import threading
import time

import pytest

from dicomstack.stack import Stack
from tests.polling import eventually

pytestmark = pytest.mark.integration


def test_a_crash_during_a_restart_round_is_healed_in_that_round(stack: Stack) -> None:
    stow, nats = stack.component("stow"), stack.component("nats")
    crashed_pid = getattr(stow, "pid", None)
    stack.kill("stow")
    outcome: list[tuple[list[str], list[tuple[str, str]]]] = []
    started = time.monotonic()
    round_ = threading.Thread(target=lambda: outcome.append(stack.restart_crashed()))
    round_.start()
    assert eventually(lambda: getattr(stow, "pid", None) not in (None, crashed_pid), seconds=10)
    stack.kill("nats")  # STOW is starting: its readiness now waits for NATS
    round_.join()
    restarted, failed = outcome[0]
    assert failed == []
    assert sorted(restarted) == ["nats", "stow-0"]
    assert time.monotonic() - started < stack.settings.startup_timeout
    assert stow.health() and nats.health()  # type: ignore[attr-defined]
