"""STOW-RS settings (prefix ``DICOMWEB_STOW_``), composing the shared ones."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    INDEX_TIMEOUT_SECONDS,
    AnonymizeSettings,
    UsesStorage,
    WebServiceSettings,
    settings_group,
)


class Settings(BaseSettings, WebServiceSettings, UsesStorage):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STOW_")

    max_request_bytes: int = 64 << 30
    max_parts: int = 10_000
    max_part_bytes: int = 4 << 30
    # A dicom+json / dicom+xml metadata part is parsed whole: larger ones fail with 0xA700.
    max_metadata_part_bytes: int = 64 << 20
    # How long a request waits for the indexer to confirm; past it the answer is 202 (documented).
    index_timeout_seconds: float = INDEX_TIMEOUT_SECONDS
    # What to do with a different instance under an existing SOP Instance UID.
    duplicate_policy: Literal["reject", "overwrite"] = "reject"
    # De-identify every stored instance (``DICOMWEB_STOW_ANONYMIZE*``, shared with C-STORE).
    deidentify: AnonymizeSettings = settings_group(AnonymizeSettings)
