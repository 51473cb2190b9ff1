"""Adapters to the outside: NATS (bus, the commands and outcomes on it, waiting for the
indexer), PostgreSQL (pool and outage mapping, schema gate, the change feed's rows
and its LISTEN wake-ups), blob storage (``storage``), and the store path that
composes them (``ingest``), shared by STOW and DIMSE C-STORE.

Not here: DICOM rules (``dicom``), search SQL (``search``), HTTP plumbing (``web``).
"""
