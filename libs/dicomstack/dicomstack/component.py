"""What the stack needs of anything it starts: a child process, or a server it wraps."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Component(Protocol):
    """What the stack needs of anything it starts."""

    name: str
    log_path: Path

    @property
    def crashed(self) -> bool: ...
    def spawn(self) -> None: ...
    def wait_healthy(self, timeout: float) -> None: ...
    def stop(self) -> None: ...
    def kill(self) -> None: ...
