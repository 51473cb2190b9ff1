"""QIDO-RS settings: the shared PostgreSQL and HTTP settings plus the search limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import UsesPostgres, WebServiceSettings


class Settings(BaseSettings, WebServiceSettings, UsesPostgres):
    """Built once in ``__main__`` from ``DICOMWEB_QIDO_*`` (and the shared prefixes)."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_QIDO_")

    # The most matches one response carries; also the page size when ``limit`` is absent.
    # A cut result says so in a Warning header (PS3.18 §8.3.4.4).
    max_limit: int = Field(default=1000, ge=1)
    # The most matches a count reads (``/studies/count``, ``count=true``) and the furthest a
    # page may start (``offset``): past it a search answers 413 (PS3.18 §8.3.4.4).
    max_scan_rows: int = Field(default=1_000_000, ge=1)
    # Seconds any one statement may run (PostgreSQL's statement_timeout on QIDO's connections):
    # a search that would scan longer answers 413 instead of running away.
    statement_timeout: float = Field(default=10.0, gt=0)
    # PostgreSQL parallel workers one search may use when it reads stored documents (a key no
    # index holds): the same CPU, done sooner on a server with idle cores; 0 reads serially.
    document_read_workers: int = Field(default=4, ge=0)
    # BulkDataURIs in change-feed metadata follow X-Forwarded-Host / -Proto / -Prefix when a
    # gateway sends them, as WADO's do.
    trust_forwarded_headers: bool = True
