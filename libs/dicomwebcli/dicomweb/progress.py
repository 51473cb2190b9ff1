"""The progress display: a rich bar with files, megabytes, instances per second and the time
left, on the terminal's standard error (standard output stays for results); silent when that
is not a terminal, so scripts and logs get only the summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _MegabytesColumn(ProgressColumn):
    """``12.3/200.0 MB``: bytes settled so far out of all the sources'."""

    def render(self, task: Task) -> Text:
        done, total = task.fields.get("bytes", 0), task.fields.get("total_bytes", 0)
        return Text(f"{done / 1e6:.1f}/{total / 1e6:.1f} MB", style="progress.download")


class _RateColumn(ProgressColumn):
    """Instances (or files) per second, over rich's recent-speed window."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(
            f"{speed:.0f} {self.unit}/s" if speed else f"- {self.unit}/s", "progress.data.speed"
        )


class UploadProgress:
    """Counts files and bytes; draws them when ``enabled``."""

    def __init__(
        self, label: str, files: int, total_bytes: int, enabled: bool, unit: str = "inst"
    ) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            _MegabytesColumn(),
            _RateColumn(unit),
            TimeRemainingColumn(),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        self._task = self._progress.add_task(label, total=files, bytes=0, total_bytes=total_bytes)
        self._bytes = 0

    def __enter__(self) -> UploadProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def advance(self, files: int, nbytes: int) -> None:
        self._bytes += nbytes
        self._progress.update(self._task, advance=files, bytes=self._bytes)

    def grow(self, files: int, nbytes: int) -> None:
        """More to do than first known (a download learns its sizes as it goes)."""
        task = self._progress.tasks[0]
        total_bytes = task.fields.get("total_bytes", 0) + nbytes
        self._progress.update(self._task, total=(task.total or 0) + files, total_bytes=total_bytes)
