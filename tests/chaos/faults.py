"""The chaos test's faults: SIGKILL one component after another (a shuffled round-robin), by
process id from outside as a crash would, while the launcher's own watch (``Stack.restart_crashed``
every ``WATCH_SECONDS``, as ``make run`` runs it) brings them back on a thread of its own.

Kills do not wait for the last victim to heal, so restarts overlap and a component may even be
killed again while it starts (the launcher then retries it with backoff). Only a component that
is up is killed, so each kill counts."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from dicomstack.__main__ import WATCH_SECONDS
from dicomstack.stack import Stack

VICTIMS = ("nats", "postgres", "stow", "indexer", "qido", "wado")
HEAL_SECONDS = 120.0  # a component not back within this is a stall: the test fails


@dataclass
class FaultLog:
    """Kills per component, restarts by the launcher, and restarts that failed (then retried)."""

    kills: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    failed_restarts: list[str] = field(default_factory=list)


def schedule(rounds: int, seed: int) -> list[str]:
    """Each victim ``rounds`` times, each round in a new order."""
    chooser = random.Random(seed)
    order: list[str] = []
    for _ in range(rounds):
        order += chooser.sample(VICTIMS, len(VICTIMS))
    return order


def _up(stack: Stack, name: str) -> int | None:
    """The victim's process id when it runs and answers its health check, else None."""
    component = stack.component(name)
    pid = getattr(component, "pid", None)
    return pid if pid is not None and component.health() else None  # type: ignore[attr-defined]


def _kill_when_up(stack: Stack, name: str, halted: threading.Event) -> None:
    deadline = time.monotonic() + HEAL_SECONDS
    while (pid := _up(stack, name)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} was not up again within {HEAL_SECONDS:.0f} s")
        if halted.wait(0.1):
            return
    os.kill(pid, signal.SIGKILL)


class Chaos:
    """The launcher's watch and the killer, each on a thread; ``close`` stops the watch once
    nothing is left to restart and every victim is healthy."""

    def __init__(self, stack: Stack, victims: list[str], pause: tuple[float, float], seed: int):
        self.stack, self.victims, self.pause = stack, victims, pause
        self.log = FaultLog()
        self.errors: list[BaseException] = []
        self._chooser = random.Random(seed)
        self._stop_watch = threading.Event()
        self._stop_killing = threading.Event()
        self._watch = threading.Thread(target=self._guard(self._run_watch), daemon=True)
        self._killer = threading.Thread(target=self._guard(self._run_killer), daemon=True)

    def start(self) -> None:
        self._watch.start()
        self._killer.start()

    @property
    def killing(self) -> bool:
        return self._killer.is_alive()

    def halt(self) -> None:
        """Stop killing and watching at once (the test failed; the stack is stopped next)."""
        self._stop_killing.set()
        self._stop_watch.set()
        self._killer.join()
        self._watch.join()

    def close(self) -> None:
        self._killer.join()
        deadline = time.monotonic() + HEAL_SECONDS
        while not self._settled():
            if time.monotonic() > deadline:
                self.errors.append(AssertionError("the stack did not heal after the last kill"))
                break
            time.sleep(WATCH_SECONDS)
        self._stop_watch.set()
        self._watch.join()
        if self.errors:
            raise self.errors[0]

    def _settled(self) -> bool:
        crashed = any(getattr(self.stack.component(n), "crashed", True) for n in VICTIMS)
        return not crashed and all(_up(self.stack, n) is not None for n in VICTIMS)

    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                self.errors.append(exc)

        return run

    def _run_watch(self) -> None:
        while not self._stop_watch.wait(WATCH_SECONDS):
            restarted, failed = self.stack.restart_crashed()
            self.log.restarts.update(restarted)
            self.log.failed_restarts += [f"{who}: {why.splitlines()[0]}" for who, why in failed]

    def _run_killer(self) -> None:
        for name in self.victims:
            if self._stop_killing.wait(self._chooser.uniform(*self.pause)):
                return
            _kill_when_up(self.stack, name, self._stop_killing)
            self.log.kills[name] += 1
