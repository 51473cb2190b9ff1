"""The index schema in PostgreSQL and every statement that reads it, in one room, so a column
change shows each reader.

- ``migrations/NNNN_name.sql``: the schema itself, applied in order by the indexer (its one
  writer: ``indexer/migrate.py``, ``python -m indexer migrate``); ``migration_files`` lists
  them. They ship inside this package, so every service's install carries the schema it was
  written for (``version``: the readiness gate comparing it to the database).
- The named reads, one module per reader: ``wado`` (WADO-RS / WADO-URI instance lookups),
  ``feed`` (the change feed, read over HTTP by QIDO and pushed by the indexer's relay),
  ``audit`` (the audit trail QIDO serves), ``dimse`` (C-MOVE / C-GET look-ups, storage
  commitment, the C-STORE forecast), ``search`` (the extended-tag catalog); ``rows``: the
  row shape two readers share. ``catalog`` lists each read with sample arguments; a test
  prepares every one against a freshly migrated PostgreSQL.

Not here: QIDO-RS and C-FIND's search SQL, compiled from a query rather than named, lives in
``dicomcommon.search`` (its columns in ``search/columns.py``, pinned to these migrations by
the search and column tests); the study-group conditions every reader adds are
``dicomcommon.studyaccess``; the indexer's own statements (its writes and the reads that go
with them) stay beside the code that runs them in ``services/indexer``, and the same test
prepares each of them too.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

MIGRATIONS: Traversable = resources.files(__name__) / "migrations"


def migration_files() -> list[tuple[str, str]]:
    """Every shipped migration as (version, SQL), in the order they apply."""
    files = sorted(f.name for f in MIGRATIONS.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (MIGRATIONS / name).read_text()) for name in files]
