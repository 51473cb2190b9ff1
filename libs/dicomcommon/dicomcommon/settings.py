"""Settings shared by the services: PostgreSQL, NATS JetStream, blob storage, HTTP, CORS,
authentication.

Every value comes from an environment variable with the ``DICOMWEB_`` prefix, so the same code
runs embedded, in Compose and on Kubernetes. Services compose these into their own ``Settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PostgresSettings(BaseSettings):
    """Where the index lives. ``DICOMWEB_POSTGRES_URL`` is a libpq-style URL."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_POSTGRES_")

    url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/dicomweb")
    pool_min: int = 1
    pool_max: int = 10
    command_timeout: float = 30.0


class NatsSettings(BaseSettings):
    """NATS JetStream: the ingest stream (commands) and the change-feed stream (events)."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_NATS_")

    url: str = "nats://127.0.0.1:4222"
    ingest_stream: str = "DICOM_INGEST"
    ingest_subject_prefix: str = "dicom.ingest"
    outcome_subject_prefix: str = "dicom.outcome"
    feed_stream: str = "DICOM_FEED"
    feed_subject_prefix: str = "dicom.feed"
    feed_max_age_seconds: float = 30 * 24 * 3600.0
    stream_replicas: int = 1


class StorageSettings(BaseSettings):
    """Blob storage: a filesystem folder (default) or an S3-compatible bucket."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STORAGE_")

    backend: Literal["filesystem", "s3"] = "filesystem"
    root: Path = Path(".data/blobs")
    s3_endpoint_url: str | None = None
    s3_bucket: str = "dicomweb"
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_create_bucket: bool = True
    # Bodies up to the threshold go in one PUT (held in memory); larger ones stream in parts,
    # so one upload never holds more than a part. S3 requires parts of at least 5 MiB.
    s3_multipart_threshold: int = Field(default=16 << 20, ge=5 << 20)
    s3_multipart_part_size: int = Field(default=16 << 20, ge=5 << 20)
    # Low timeouts and few attempts: an outage should become a 503 within seconds.
    s3_connect_timeout: float = 2.0
    s3_read_timeout: float = 30.0
    s3_max_attempts: int = 2
    s3_max_pool_connections: int = 32
    # Path style works with SeaweedFS, MinIO and AWS alike, with no wildcard DNS needed.
    s3_addressing_style: Literal["auto", "path", "virtual"] = "path"


class HttpSettings(BaseSettings):
    """How a service listens and which public base URL it writes into RetrieveURLs."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_HTTP_")

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8080/dicom-web"
    log_level: str = "info"


# What a browser client may read besides the CORS-safelisted headers: where a resource lives,
# partial and conditional answers, warnings of partial success, retry hints, the request id.
_EXPOSED = (
    "Content-Location, Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified,"
    " Warning, Location, Retry-After, X-Request-ID"
)
CommaList = Annotated[list[str], NoDecode]


class CorsSettings(BaseSettings):
    """Cross-origin access, so a browser viewer (OHIF v3, …) can use the server directly
    (issue 5). Lists are comma-separated: ``DICOMWEB_CORS_ALLOW_ORIGINS=https://viewer.example``.
    ``*`` (any origin) suits the embedded stack; set the viewer's origin in production."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_CORS_")

    enabled: bool = True
    allow_origins: CommaList = ["*"]
    allow_origin_regex: str | None = None
    allow_methods: CommaList = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
    allow_headers: CommaList = ["*"]  # ``*``: whatever the pre-flight asks for
    expose_headers: CommaList = [h.strip() for h in _EXPOSED.split(",")]
    allow_credentials: bool = False
    # Chrome's Private Network Access: a viewer on a public origin calling a local server.
    allow_private_network: bool = True
    max_age_seconds: int = Field(default=600, ge=0)

    @field_validator(
        "allow_origins", "allow_methods", "allow_headers", "expose_headers", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


# Microsoft's DICOM server's permission set, granted by role (``DICOMWEB_AUTH_ROLE_PERMISSIONS``).
DEFAULT_ROLE_PERMISSIONS: dict[str, list[str]] = {
    "reader": ["read"],
    "writer": ["read", "write"],
    "deleter": ["read", "delete"],
    "admin": ["read", "write", "delete", "admin"],
}


class AuthSettings(BaseSettings):
    """OIDC bearer tokens (issue 12), in the spirit of Microsoft's server: the issuer (authority)
    whose discovery document names its JWKS, the audiences a token may carry, the claim holding
    roles (a dotted path such as ``realm_access.roles`` reaches into Keycloak's tokens) and
    the roles → permissions map (a JSON object, inline or in a file)."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_AUTH_")

    enabled: bool = False
    issuer: str = ""
    audiences: CommaList = []
    roles_claim: str = "roles"
    groups_claim: str = "groups"
    clock_skew_seconds: float = Field(default=60.0, ge=0)
    role_permissions: dict[str, list[str]] = DEFAULT_ROLE_PERMISSIONS
    role_permissions_file: Path | None = None
    # Serving without authentication on a non-loopback address must be asked for explicitly.
    allow_unauthenticated: bool = False
    # At most one JWKS fetch per this many seconds when a token names an unknown key (rotation).
    jwks_refresh_min_seconds: float = Field(default=30.0, ge=0)
    # Keys are fetched again after this long even if no unknown key was seen.
    jwks_max_age_seconds: float = Field(default=3600.0, gt=0)
    discovery_timeout_seconds: float = Field(default=5.0, gt=0)
    token_cache_size: int = Field(default=4096, ge=1)  # verified tokens kept until they expire
    realm: str = "dicomweb"

    @field_validator("audiences", mode="before")
    @classmethod
    def _split_audiences(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class StudyGroupsSettings(BaseSettings):
    """Study-level access groups (off by default). When enabled, a caller without ``admin``
    sees only the studies that share one of its groups; a study gets its uploader's groups
    (or those ``uploader_groups`` names for the uploader's subject) when it is created.
    ``DICOMWEB_AUTH_STUDY_GROUPS_UPLOADER_GROUPS`` is a JSON object: subject -> groups."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_AUTH_STUDY_GROUPS_")

    enabled: bool = False
    uploader_groups: dict[str, list[str]] = Field(default_factory=dict)


def postgres_field() -> PostgresSettings:
    return Field(default_factory=PostgresSettings)


def nats_field() -> NatsSettings:
    return Field(default_factory=NatsSettings)


def storage_field() -> StorageSettings:
    return Field(default_factory=StorageSettings)


def http_field() -> HttpSettings:
    return Field(default_factory=HttpSettings)


def cors_field() -> CorsSettings:
    return Field(default_factory=CorsSettings)


def auth_field() -> AuthSettings:
    return Field(default_factory=AuthSettings)


def study_groups_field() -> StudyGroupsSettings:
    return Field(default_factory=StudyGroupsSettings)
