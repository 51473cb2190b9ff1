"""Fixtures the integration modules share by name."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def leaked_sockets_collected() -> Iterator[None]:
    """pynetdicom leaves the socket of an aborted or refused association to the garbage
    collector; collect them before the module ends, so their ResourceWarnings surface here
    (where the module's marks ignore them) rather than in whatever test runs next."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
