"""The launcher's watch: rounds that restart crashed components, as ``make run`` keeps the
stack up and the crash tests see it.

A round spawns every component that exited on its own (and those whose last restart failed,
once their backoff has passed) before it waits for any, so one that fails does not hold back
the others. While they start, one that crashes meanwhile is restarted in the same round: a
service whose readiness needs NATS must not wait out its start-up timeout for a NATS that only
the next round would bring back. A failed restart is tried again after 1 s, 2 s, 4 s … at most
30 s apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dicomstack.component import Component
from dicomstack.errors import StackError

RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0
ROUND_POLL_SECONDS = 0.1  # how often a round looks at what it is starting
_STILL_STARTING = "starting"


class RestartRounds:
    """``components`` in start order; ``record`` notes the children's process ids; ``routed``
    says whether the gateway sends a restarted replica traffic again."""

    def __init__(
        self,
        components: Callable[[], list[Component]],
        record: Callable[[], None],
        routed: Callable[[Component], bool],
        startup_timeout: float,
    ) -> None:
        self._components, self._record, self._routed = components, record, routed
        self._startup_timeout = startup_timeout
        # components whose restart failed: (monotonic time of the next try, the last delay)
        self._retry: dict[Component, tuple[float, float]] = {}

    def run(self) -> tuple[list[str], list[tuple[str, str]]]:
        """One round: (restarted names, (name, error) failed)."""
        restarted: list[str] = []
        failed: list[tuple[str, str]] = []
        starting: dict[Component, float] = {}  # component → its start-up deadline
        while True:
            now = time.monotonic()
            due = [c for c in self._components() if c not in starting and self._due(c, now)]
            for component in due:
                component.stop()
                component.spawn()
                starting[component] = now + self._startup_timeout
            if due:
                self._record()
            if not starting:
                return restarted, failed
            time.sleep(ROUND_POLL_SECONDS)
            for component, deadline in list(starting.items()):
                error = self._start_state(component, deadline)
                if error == _STILL_STARTING:
                    continue
                del starting[component]
                if error is None:
                    self._retry.pop(component, None)
                    restarted.append(component.name)
                else:
                    self._back_off(component)
                    failed.append((component.name, error))

    def _start_state(self, component: Component, deadline: float) -> str | None:
        """None once up (healthy and routed), the error once failed, else ``_STILL_STARTING``."""
        health = getattr(component, "health", None)
        try:
            if health is None or health():
                component.wait_healthy(self._startup_timeout)  # at once when healthy
                if self._routed(component):
                    return None
            elif component.crashed:
                component.wait_healthy(0)  # raises with the log's tail
        except StackError as exc:
            return str(exc)
        if time.monotonic() > deadline:
            return f"{component.name} not up after {self._startup_timeout:.0f}s"
        return _STILL_STARTING

    def _back_off(self, component: Component) -> None:
        last = self._retry.get(component, (0.0, RETRY_FIRST_SECONDS / 2))[1]
        delay = min(2 * last, RETRY_MAX_SECONDS)
        self._retry[component] = (time.monotonic() + delay, delay)

    def _due(self, component: Component, now: float) -> bool:
        if component in self._retry:
            return self._retry[component][0] <= now
        return component.crashed
