"""DELETE settings (prefix ``DICOMWEB_DELOW_``), composing the shared ones."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    AuditSettings,
    CorsSettings,
    HttpSettings,
    NatsSettings,
    audit_field,
    cors_field,
    http_field,
    nats_field,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_DELOW_")

    nats: NatsSettings = nats_field()
    http: HttpSettings = http_field()
    cors: CorsSettings = cors_field()
    audit: AuditSettings = audit_field()
    index_timeout_seconds: float = 30.0
