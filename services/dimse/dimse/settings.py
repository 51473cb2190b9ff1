"""DIMSE settings (prefix ``DICOMWEB_DIMSE_``), composing the shared ones.

The DICOM listener (``host``, ``port``, ``ae_title``) is apart from the HTTP port, which serves
only the probes and metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.dicom.conversions import ConversionLimits
from dicomcommon.settings import (
    INDEX_TIMEOUT_SECONDS,
    AnonymizeSettings,
    ServiceSettings,
    StudyGroupsSettings,
    UsesPostgres,
    UsesStorage,
    settings_group,
)

# What a calling AE may do: ``store`` (C-STORE, storage commitment), ``find`` (C-FIND), ``move``
# (C-MOVE and C-GET). The HTTP API's permission names are accepted too (``callers``); ``admin``
# also sees every study when study groups are on.
AeOperation = Literal["store", "find", "move"]
AeGrant = Literal["store", "find", "move", "read", "write", "admin"]


class CallingAe(BaseModel):
    """What one calling AE title may do, from which source addresses (none: any), and its
    study access groups (``DICOMWEB_AUTH_STUDY_GROUPS_ENABLED``: what a token's groups claim
    is to an HTTP caller)."""

    permissions: frozenset[AeGrant] = frozenset({"store", "find", "move"})
    hosts: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()


class RemoteAe(BaseModel):
    """Where an AE title listens: a C-MOVE destination, or the AE that asked for a storage
    commitment when its answer goes on a new association."""

    host: str
    port: int = Field(ge=1, le=65535)
    tls: bool = False  # associate with DICOM TLS (the ``tls_*`` files: our certificate, CAs)


class Settings(BaseSettings, ServiceSettings, ConversionLimits, UsesPostgres, UsesStorage):
    model_config = SettingsConfigDict(env_prefix="DICOMWEB_DIMSE_")

    study_groups: StudyGroupsSettings = settings_group(StudyGroupsSettings)
    # STOW's anonymize on store, shared
    deidentify: AnonymizeSettings = settings_group(AnonymizeSettings)
    ae_title: str = Field("DICOMWEB", min_length=1, max_length=16)
    host: str = "127.0.0.1"
    port: int = 11112
    # Calling AE title → permissions and hosts (JSON). Empty: on a loopback ``host`` any
    # calling AE may do everything; elsewhere nobody may associate (as the HTTP API's rule).
    calling_aes: dict[str, CallingAe] = {}
    # The same table from a JSON file (a mounted ConfigMap or Secret); it wins over the above.
    calling_aes_file: Path | None = None
    # AE title → host and port (JSON): where C-MOVE sends, and where storage commitment answers
    # go when the requesting association has closed. An AE not in the table is refused.
    remote_aes: dict[str, RemoteAe] = {}
    # The same table from a JSON file (a mounted ConfigMap or Secret); it wins over the above.
    remote_aes_file: Path | None = None
    # DICOM TLS (PS3.15 Annex B): with a certificate and its key the listener speaks only TLS;
    # peers' certificates are checked against ``tls_ca_file`` (required of every calling AE
    # with ``tls_require_client_cert``). The same files serve associations we open.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_require_client_cert: bool = False
    # Limits: associations at once (beyond: A-ASSOCIATE-RJ, transient), the largest PDU we
    # receive, and the timeouts (seconds) of association negotiation (ACSE), of a DIMSE
    # message, and of a silent connection.
    max_associations: int = 16
    max_pdu_bytes: int = 1 << 18
    acse_timeout_seconds: float = 30.0
    dimse_timeout_seconds: float = 60.0
    idle_timeout_seconds: float = 120.0
    # pynetdicom's own log: a line per message at INFO; associations and operations are in
    # the audit trail, so only its warnings by default.
    protocol_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # When C-STORE answers Success: ``durable``, once JetStream holds the command (STOW's 202
    # promise; duplicates and study groups are decided from the index before); ``indexed``,
    # once the indexer confirmed too (STOW's 200: found by C-FIND / QIDO at once), or after
    # ``index_timeout_seconds`` for a durable command.
    confirm: Literal["durable", "indexed"] = "durable"
    index_timeout_seconds: float = INDEX_TIMEOUT_SECONDS
    duplicate_policy: Literal["reject", "overwrite"] = "reject"
    # The most matches one C-FIND answers (QIDO's limit cap plays the same part).
    max_find_matches: int = 10_000
    # How long a storage commitment waits for its answer to be taken on a new association.
    commitment_timeout_seconds: float = 30.0

    @model_validator(mode="after")
    def _read_ae_table_files(self) -> Settings:
        """The calling and remote AE tables from their files when named (read once, here:
        a change needs a restart, as every setting)."""
        if self.calling_aes_file is not None:
            table = json.loads(self.calling_aes_file.read_text())
            self.calling_aes = _CALLING_AES.validate_python(table)
        if self.remote_aes_file is not None:
            table = json.loads(self.remote_aes_file.read_text())
            self.remote_aes = _REMOTE_AES.validate_python(table)
        return self


_REMOTE_AES = TypeAdapter(dict[str, RemoteAe])
_CALLING_AES = TypeAdapter(dict[str, CallingAe])
