"""DELETE settings (prefix ``DICOMWEB_DELOW_``), composing the shared ones."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    INDEX_TIMEOUT_SECONDS,
    AuditSettings,
    AuthSettings,
    CorsSettings,
    HttpSettings,
    NatsSettings,
    StudyGroupsSettings,
    TracingSettings,
    audit_field,
    auth_field,
    cors_field,
    http_field,
    nats_field,
    study_groups_field,
    tracing_field,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_DELOW_")

    nats: NatsSettings = nats_field()
    http: HttpSettings = http_field()
    cors: CorsSettings = cors_field()
    auth: AuthSettings = auth_field()
    tracing: TracingSettings = tracing_field()
    study_groups: StudyGroupsSettings = study_groups_field()
    audit: AuditSettings = audit_field()
    index_timeout_seconds: float = INDEX_TIMEOUT_SECONDS
