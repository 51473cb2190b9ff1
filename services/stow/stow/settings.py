"""STOW-RS settings (prefix ``DICOMWEB_STOW_``), composing the shared ones."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.dicom import anonymize
from dicomcommon.settings import (
    INDEX_TIMEOUT_SECONDS,
    StorageSettings,
    WebServiceSettings,
    storage_field,
)


class Settings(BaseSettings, WebServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STOW_")

    storage: StorageSettings = storage_field()
    max_request_bytes: int = 64 << 30
    max_parts: int = 10_000
    max_part_bytes: int = 4 << 30
    # A dicom+json / dicom+xml metadata part is parsed whole: larger ones fail with 0xA700.
    max_metadata_part_bytes: int = 64 << 20
    # How long a request waits for the indexer to confirm; past it the answer is 202 (documented).
    index_timeout_seconds: float = INDEX_TIMEOUT_SECONDS
    # What to do with a different instance under an existing SOP Instance UID.
    duplicate_policy: Literal["reject", "overwrite"] = "reject"
    # De-identify every stored instance (PS3.15 Annex E Basic Profile); off, as in DICOMcloud.
    anonymize: bool = False
    anonymize_options: str = ""  # comma-separated dicomcommon.dicom.anonymize.Option names
    anonymize_uid_secret: SecretStr | None = None  # keys the UID replacement; keep it stable

    @model_validator(mode="after")
    def _check_anonymize(self) -> Settings:
        options = anonymize.parse_options(self.anonymize_options)  # unknown names: ValueError
        secret = self.anonymize_uid_secret.get_secret_value() if self.anonymize_uid_secret else ""
        if self.anonymize and anonymize.Option.RETAIN_UIDS not in options and not secret:
            raise ValueError("DICOMWEB_STOW_ANONYMIZE_UID_SECRET is required to replace UIDs")
        return self
