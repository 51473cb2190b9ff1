"""QIDO-RS settings: the shared PostgreSQL and HTTP settings plus the search limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    AuthSettings,
    CorsSettings,
    HttpSettings,
    PostgresSettings,
    StudyGroupsSettings,
    auth_field,
    cors_field,
    http_field,
    postgres_field,
    study_groups_field,
)


class Settings(BaseSettings):
    """Built once in ``__main__`` from ``DICOMWEB_QIDO_*`` (and the shared prefixes)."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_QIDO_")

    postgres: PostgresSettings = postgres_field()
    http: HttpSettings = http_field()
    cors: CorsSettings = cors_field()
    auth: AuthSettings = auth_field()
    study_groups: StudyGroupsSettings = study_groups_field()
    # The most matches one response carries; also the page size when ``limit`` is absent.
    # A cut result says so in a Warning header (PS3.18 §8.3.4.4).
    max_limit: int = Field(default=1000, ge=1)
    # BulkDataURIs in change-feed metadata follow X-Forwarded-Host / -Proto / -Prefix when a
    # gateway sends them, as WADO's do.
    trust_forwarded_headers: bool = True
