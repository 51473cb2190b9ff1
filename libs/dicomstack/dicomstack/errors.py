"""What the launcher reports instead of a traceback: one line that says what to do."""

from __future__ import annotations


class StackError(Exception):
    """A component could not start or stay up; the message names it and its log file."""


class PortInUse(StackError):
    """A port the stack needs is taken; the message names the setting that moves it."""

    def __init__(self, host: str, port: int, setting: str) -> None:
        super().__init__(f"port {port} is in use: set {setting}")
        self.port = port
        self.setting = setting
