"""Adapters to the outside: NATS (bus, the commands and outcomes on it, waiting for the
indexer), PostgreSQL (pool and outage mapping, the change feed's entries and its
LISTEN wake-ups), blob storage (``storage``), and the store path that
composes them (``ingest``), shared by STOW and DIMSE C-STORE.

Not here: DICOM rules (``dicom``), search SQL (``search``), the schema and the statements
that read it (``schema``), HTTP plumbing (``web``).
"""
