"""The hostile-input suite's guards: it runs on the session stack (through the gateway), the
stack must answer its health check after every case, and the services' summed memory may grow
by less than ``MEMORY_BUDGET`` across the whole suite (bounded buffers, no leak per attack)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dicomstack.stack import Stack
from tests.hostile import attacks

MEMORY_BUDGET = 256 << 20


@pytest.fixture(scope="package", autouse=True)
def memory_guard(stack: Stack) -> Iterator[None]:
    """Sums the resident memory of every service process before and after the suite."""
    before = attacks.service_memory(stack)
    yield
    grown = attacks.service_memory(stack) - before
    assert grown < MEMORY_BUDGET, f"the services grew by {grown >> 20} MiB across the suite"


@pytest.fixture(autouse=True)
def healthy_afterwards(stack: Stack) -> Iterator[None]:
    """Every case leaves the stack healthy: the gateway's health check reports every part."""
    yield
    assert attacks.eventually_healthy(stack), httpx.get(f"{stack.gateway_url}/healthz").text
