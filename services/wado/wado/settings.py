"""WADO settings (prefix ``DICOMWEB_WADO_``), composing the shared PostgreSQL, storage and HTTP."""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    AuthSettings,
    CorsSettings,
    HttpSettings,
    PostgresSettings,
    StorageSettings,
    StudyGroupsSettings,
    auth_field,
    cors_field,
    http_field,
    postgres_field,
    storage_field,
    study_groups_field,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_WADO_")

    postgres: PostgresSettings = postgres_field()
    storage: StorageSettings = storage_field()
    http: HttpSettings = http_field()
    cors: CorsSettings = cors_field()
    auth: AuthSettings = auth_field()
    study_groups: StudyGroupsSettings = study_groups_field()
    # BulkDataURIs follow X-Forwarded-Host / -Proto / -Prefix when a gateway sends them, so
    # a client reaching us through any name gets URLs it can resolve (issue 5, OHIF).
    trust_forwarded_headers: bool = True
    # Metadata rows fetched per database round trip: bounds memory for very large studies.
    metadata_page_size: int = Field(default=250, ge=1, le=10_000)
    # Serialized study / series metadata kept per process, keyed by ETag (0 turns it off).
    metadata_cache_bytes: int = Field(default=128 << 20, ge=0)
    # Transcoding holds one instance in memory; larger instances are refused with 406.
    max_transcode_bytes: int = Field(default=1 << 30, ge=1 << 20)
    # Frames one animated GIF of a multi-frame instance may hold (each is decoded and kept).
    max_animated_frames: int = Field(default=500, ge=1, le=100_000)
    # Keys the UID replacement of WADO-URI anonymize=yes (PS3.15 E.1, HMAC-SHA-256): keep it
    # stable and shared by every replica so one study maps to one study. Random per process
    # when unset, so anonymized UIDs then differ between processes and restarts.
    anonymize_uid_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_hex(32))
    )
