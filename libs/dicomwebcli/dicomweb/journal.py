"""The upload journal: what a server acknowledged, so a rerun sends only the rest.

A small SQLite file holds one row per acknowledged source, keyed by the server's root, the
source's key, size and modification time (a changed file is sent again), with its SOP Instance
UID (an instance already acknowledged under another name is a duplicate, not sent). Each batch's
rows commit as soon as the server answers it, so an upload stopped at any moment loses at most
the batches in flight. Failed instances are never recorded: the next run tries them again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from dicomweb.sources import Source

_SCHEMA = """
CREATE TABLE IF NOT EXISTS acknowledged (
    server TEXT NOT NULL,
    source TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    acknowledged_at REAL NOT NULL,
    PRIMARY KEY (server, source, size, mtime_ns)
);
CREATE INDEX IF NOT EXISTS acknowledged_uid ON acknowledged (server, sop_instance_uid);
"""


def default_path() -> Path:
    """``$XDG_STATE_HOME/dicomweb/uploads.sqlite`` (``~/.local/state`` when unset)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dicomweb" / "uploads.sqlite"


class Journal:
    """Acknowledged sources of one server; ``path=None`` remembers nothing (``--no-journal``)."""

    def __init__(self, path: Path | None, server: str) -> None:
        self.server = server
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def acknowledged_uid(self, source: Source) -> str | None:
        """The SOP Instance UID the server acknowledged for this very file, if it did."""
        row = self._db.execute(
            "SELECT sop_instance_uid FROM acknowledged"
            " WHERE server = ? AND source = ? AND size = ? AND mtime_ns = ?",
            (self.server, source.key, source.size, source.mtime_ns),
        ).fetchone()
        return str(row[0]) if row else None

    def has_instance(self, sop_instance_uid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM acknowledged WHERE server = ? AND sop_instance_uid = ? LIMIT 1",
            (self.server, sop_instance_uid),
        ).fetchone()
        return row is not None

    def record(self, acknowledged: Iterable[tuple[Source, str]]) -> None:
        """Remember a batch the server acknowledged, durably, in one transaction."""
        now = time.time()
        rows = [(self.server, s.key, s.size, s.mtime_ns, uid, now) for s, uid in acknowledged]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO acknowledged VALUES (?, ?, ?, ?, ?, ?)", rows
            )
