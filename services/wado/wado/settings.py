"""WADO settings (prefix ``DICOMWEB_WADO_``), composing the shared PostgreSQL, storage and HTTP."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    CorsSettings,
    HttpSettings,
    PostgresSettings,
    StorageSettings,
    cors_field,
    http_field,
    postgres_field,
    storage_field,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_WADO_")

    postgres: PostgresSettings = postgres_field()
    storage: StorageSettings = storage_field()
    http: HttpSettings = http_field()
    cors: CorsSettings = cors_field()
    # BulkDataURIs follow X-Forwarded-Host / -Proto / -Prefix when a gateway sends them, so
    # a client reaching us through any name gets URLs it can resolve (issue 5, OHIF).
    trust_forwarded_headers: bool = True
    # Metadata rows fetched per database round trip: bounds memory for very large studies.
    metadata_page_size: int = Field(default=250, ge=1, le=10_000)
    # Transcoding holds one instance in memory; larger instances are refused with 406.
    max_transcode_bytes: int = Field(default=1 << 30, ge=1 << 20)
