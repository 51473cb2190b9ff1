"""DIMSE settings (prefix ``DICOMWEB_DIMSE_``), composing the shared ones.

The DICOM listener (``host``, ``port``, ``ae_title``) is apart from the HTTP port, which serves
only the probes and metrics.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import (
    AuthSettings,
    HttpSettings,
    NatsSettings,
    PostgresSettings,
    StorageSettings,
    StudyGroupsSettings,
    TracingSettings,
    auth_field,
    http_field,
    nats_field,
    postgres_field,
    storage_field,
    study_groups_field,
    tracing_field,
)

AeOperation = Literal["store", "find", "move"]


class CallingAe(BaseModel):
    """What one calling AE title may do, and from which source addresses (none: any)."""

    permissions: frozenset[AeOperation] = frozenset({"store", "find", "move"})
    hosts: frozenset[str] = frozenset()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_DIMSE_")

    postgres: PostgresSettings = postgres_field()
    nats: NatsSettings = nats_field()
    storage: StorageSettings = storage_field()
    http: HttpSettings = http_field()
    auth: AuthSettings = auth_field()
    tracing: TracingSettings = tracing_field()
    study_groups: StudyGroupsSettings = study_groups_field()
    ae_title: str = Field("DICOMWEB", min_length=1, max_length=16)
    host: str = "127.0.0.1"
    port: int = 11112
    # Calling AE title → permissions and hosts (JSON). Empty: on a loopback ``host`` any
    # calling AE may do everything; elsewhere nobody may associate (as the HTTP API's rule).
    calling_aes: dict[str, CallingAe] = {}
    # Limits: associations at once, the largest PDU we receive, and the timeouts (seconds) of
    # association negotiation (ACSE), of a DIMSE message, and of a silent connection.
    max_associations: int = 16
    max_pdu_bytes: int = 1 << 18
    acse_timeout_seconds: float = 30.0
    dimse_timeout_seconds: float = 60.0
    idle_timeout_seconds: float = 120.0
    # How long a C-STORE waits for the indexer before answering Success for a durable command.
    index_timeout_seconds: float = 30.0
    duplicate_policy: Literal["reject", "overwrite"] = "reject"
    # The most matches one C-FIND answers (QIDO's limit cap plays the same part).
    max_find_matches: int = 10_000
