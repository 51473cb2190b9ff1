"""Indexer settings (prefix ``DICOMWEB_INDEXER_``), composing the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    CorsSettings,
    ServiceSettings,
    UsesPostgres,
    UsesStorage,
    settings_group,
)


class Settings(BaseSettings, ServiceSettings, UsesPostgres, UsesStorage):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_INDEXER_")

    cors: CorsSettings = settings_group(CorsSettings)
    consumer_name: str = "indexer"
    batch_size: int = 256
    fetch_wait_seconds: float = 0.5
    # Unacknowledged commands of a crashed replica are redelivered after this long.
    ack_wait_seconds: float = 10.0
    # JetStream's delivery limit: a command delivered this often (a replica died applying it
    # each time) is parked before its last try. Outages hold a batch without spending any.
    max_deliveries: int = Field(default=20, ge=2)
    cleanup_interval_seconds: float = 2.0
    cleanup_batch: int = 100
    # Blobs older than this that no instance uses are orphans (a store never acknowledged).
    orphan_age_seconds: float = 24 * 3600.0
    orphan_sweep_interval_seconds: float = 3600.0
    # How often the backlog gauges (ingest, feed relay, blob clean-up) are measured.
    backlog_interval_seconds: float = Field(default=15.0, gt=0)
    # Reindexing extended query tags: instances per transaction, and a pause between batches
    # that leaves the database to ingest (0: as fast as it goes).
    reindex_batch_size: int = Field(default=2000, ge=1)
    reindex_pause_seconds: float = Field(default=0.0, ge=0)
    # Every other part's base URL (name -> URL), for the gateway's /healthz report.
    health_targets: dict[str, str] = Field(default_factory=dict)
