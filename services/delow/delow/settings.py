"""DELETE settings (prefix ``DICOMWEB_DELOW_``), composing the shared ones."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    INDEX_TIMEOUT_SECONDS,
    WebServiceSettings,
)


class Settings(BaseSettings, WebServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_DELOW_")

    index_timeout_seconds: float = INDEX_TIMEOUT_SECONDS
