"""Settings shared by the services: PostgreSQL, NATS JetStream, blob storage, HTTP, CORS,
authentication, audit.

Every value comes from an environment variable with the ``DICOMWEB_`` prefix, so the same code
runs embedded, in Compose and on Kubernetes. Services compose these into their own ``Settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dicomcommon.dicom import anonymize as anonymization

_Group = TypeVar("_Group", bound=BaseSettings)

# How long a writer (STOW, DELETE, C-STORE) waits for the indexer's outcome before it answers
# that the command is durable but not yet confirmed (STOW 202, DELETE 202, C-STORE Success).
INDEX_TIMEOUT_SECONDS = 30.0


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
    # Bounds on what JetStream keeps. The feed stream drops its oldest entries past its bound
    # (push replays that far; PostgreSQL's /changefeed keeps all); the work queues refuse new
    # commands past theirs (a 503 to the publisher), so nothing acknowledged is dropped.
    feed_max_bytes: int = Field(default=1 << 30, gt=0)
    ingest_max_bytes: int = Field(default=4 << 30, gt=0)
    audit_max_bytes: int = Field(default=1 << 30, gt=0)
    audit_stream: str = "DICOM_AUDIT"
    audit_subject_prefix: str = "dicom.audit"
    stream_replicas: int = 1


class S3Bucket(BaseModel):
    """An S3-compatible bucket and the keys to it: where the services keep their blobs, and
    the launcher's external storage (each under its own prefix)."""

    s3_endpoint_url: str | None = None
    s3_bucket: str = "dicomweb"
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None


class StorageSettings(BaseSettings, S3Bucket):
    """Blob storage: a filesystem folder (default) or an S3-compatible bucket."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STORAGE_")

    backend: Literal["filesystem", "s3"] = "filesystem"
    root: Path = Path(".data/blobs")
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


CommaList = Annotated[list[str], NoDecode]


def split_commas(value: Any) -> Any:
    """``a, b,,c`` → ``["a", "b", "c"]``: how every list setting is written."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class HttpSettings(BaseSettings):
    """How a service listens, which public base URL it writes into RetrieveURLs, which Host
    names it answers and which peers may speak for a client with ``X-Forwarded-*``."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_HTTP_")

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8080/dicom-web"
    log_level: str = "info"
    # Host names a request may carry (DNS rebinding defence); empty: see ``dicomcommon.web.proxies``
    # (the loopback names plus the public base URL's host while bound to loopback, else any).
    allowed_hosts: CommaList = []
    # Peers (IPs or CIDRs) whose X-Forwarded-For / -Proto / -Host / -Prefix are believed; any
    # other peer's are removed before the request is read. Loopback: the embedded gateway.
    trusted_proxies: CommaList = ["127.0.0.1", "::1"]

    @field_validator("allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return split_commas(value)


# What a browser client may read besides the CORS-safelisted headers: where a resource lives,
# partial and conditional answers, warnings of partial success, retry hints, the request id,
# a search's total (``count=true``).
_EXPOSED = (
    "Content-Location, Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified,"
    " Warning, Location, Retry-After, X-Request-ID, X-Total-Count"
)


class CorsSettings(BaseSettings):
    """Cross-origin access, so a browser viewer (OHIF v3, …) can use the server directly.
    Lists are comma-separated: ``DICOMWEB_CORS_ALLOW_ORIGINS=https://viewer.example``.
    Nothing is allowed by default (no CORS headers at all): any web page a user opens could
    otherwise read or delete studies. ``make run`` allows the loopback origins of a local
    viewer through ``allow_origin_regex``; set the viewer's origin in production."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_CORS_")

    # Each field but ``enabled`` and ``max_age_seconds`` is one of Starlette's CORSMiddleware
    # keywords, by its name (``webapp.cors_middleware`` passes them as they are).
    enabled: bool = True
    allow_origins: CommaList = []
    allow_origin_regex: str | None = None
    allow_methods: CommaList = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
    allow_headers: CommaList = ["*"]  # ``*``: whatever the pre-flight asks for
    expose_headers: CommaList = [h.strip() for h in _EXPOSED.split(",")]
    allow_credentials: bool = False
    # Chrome's Private Network Access: lets a page on a public origin call a local server.
    allow_private_network: bool = False
    max_age_seconds: int = Field(default=600, ge=0)

    @field_validator(
        "allow_origins", "allow_methods", "allow_headers", "expose_headers", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return split_commas(value)

    @property
    def allows_any(self) -> bool:
        """Whether any origin is configured at all (else no CORS middleware is installed)."""
        return self.enabled and bool(self.allow_origins or self.allow_origin_regex)


class AuditSettings(BaseSettings):
    """The audit trail (``dicomcommon.web.audit``): one event per request on patient data,
    published to JetStream after the answer; the indexer records it (and forwards it as a
    DICOM audit message to ``syslog_url`` when set: ``udp://host:514``, ``tcp://host:601``,
    ``tls://host:6514``)."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_AUDIT_")

    enabled: bool = True
    syslog_url: str | None = None
    # Events waiting for JetStream's ack, per process. When NATS stays away until this many
    # wait, requests on patient data are refused with 503 rather than served unrecorded.
    buffer_events: int = Field(default=10_000, ge=1)
    publish_batch: int = Field(default=256, ge=1)
    # How long the first event of a message waits for others to join it: one JetStream message,
    # one fetch and one insert for many requests instead of one each (the trail's cost per
    # request). Events still queued when a process is killed are lost, so keep it short.
    publish_linger_seconds: float = Field(default=0.1, ge=0, le=2)
    # The DICOM audit message's AuditSourceID (PS3.15 A.5.1): names this archive.
    source_id: str = "dicomweb"

    @field_validator("syslog_url")
    @classmethod
    def _check_syslog_url(cls, value: str | None) -> str | None:
        """Refused at start rather than at the first event: a half configuration."""
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("udp", "tcp", "tls") or not parts.hostname:
                raise ValueError(f"must be udp://, tcp:// or tls://host[:port], not {value!r}")
        return value or None


class TracingSettings(BaseSettings):
    """The OpenTelemetry SDK's own variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the collector's
    base URL; ``/v1/traces`` is appended) or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full
    URL) turns tracing on; ``OTEL_SERVICE_NAME`` prefixes each part's service name
    (``dicomweb-stow``, ``dicomweb-gateway``); ``OTEL_TRACES_SAMPLER`` and its ``_ARG`` choose
    the sampler; ``OTEL_SDK_DISABLED=true`` turns it off. ``OTEL_EXPORTER_OTLP_HEADERS`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` are read by the exporter and the SDK themselves."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", env_ignore_empty=True, extra="ignore")

    exporter_otlp_endpoint: str | None = None
    exporter_otlp_traces_endpoint: str | None = None
    service_name: str = "dicomweb"
    traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = "parentbased_always_on"
    traces_sampler_arg: float = 1.0
    sdk_disabled: bool = False

    @property
    def traces_url(self) -> str | None:
        """Where spans are posted, or None when tracing is off."""
        if self.sdk_disabled:
            return None
        if self.exporter_otlp_traces_endpoint:
            return self.exporter_otlp_traces_endpoint
        if self.exporter_otlp_endpoint:
            return self.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None

    def service(self, part: str) -> str:
        """The ``service.name`` of one part of the archive (``stow``, ``gateway``, …)."""
        return f"{self.service_name}-{part}"


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


class AnonymizeSettings(BaseSettings):
    """Anonymize on store: every instance a store path takes (STOW-RS and C-STORE alike) is
    de-identified by the PS3.15 Annex E Basic Profile before it is validated and written (off,
    as in DICOMcloud). The names keep their ``DICOMWEB_STOW_`` prefix: one setting for both."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STOW_")

    anonymize: bool = False
    anonymize_options: str = ""  # comma-separated dicomcommon.dicom.anonymize.Option names
    anonymize_uid_secret: SecretStr | None = None  # keys the UID replacement; keep it stable

    @model_validator(mode="after")
    def _check_anonymize(self) -> AnonymizeSettings:
        options = anonymization.parse_options(self.anonymize_options)  # unknown: ValueError
        secret = self.anonymize_uid_secret.get_secret_value() if self.anonymize_uid_secret else ""
        if self.anonymize and anonymization.Option.RETAIN_UIDS not in options and not secret:
            raise ValueError("DICOMWEB_STOW_ANONYMIZE_UID_SECRET is required to replace UIDs")
        return self


def settings_group(group: type[_Group]) -> _Group:
    """The field of a composed settings group: built from its own ``DICOMWEB_…`` variables
    when the composing ``Settings`` is built (never once, at import)."""
    return Field(default_factory=group)


class UsesPostgres(BaseModel):
    """Mixed into the ``Settings`` of a service that reads or writes the index."""

    postgres: PostgresSettings = settings_group(PostgresSettings)


class UsesStorage(BaseModel):
    """Mixed into the ``Settings`` of a service that reads or writes blobs."""

    storage: StorageSettings = settings_group(StorageSettings)


class ServiceSettings(BaseModel):
    """The shared settings every service process composes (the HTTP services, the indexer and
    DIMSE), mixed into its ``Settings``: NATS (commands and audit events go to JetStream), HTTP
    (at least the probes and metrics), authentication, tracing and the audit trail."""

    nats: NatsSettings = settings_group(NatsSettings)
    http: HttpSettings = settings_group(HttpSettings)
    auth: AuthSettings = settings_group(AuthSettings)
    tracing: TracingSettings = settings_group(TracingSettings)
    audit: AuditSettings = settings_group(AuditSettings)


class WebServiceSettings(ServiceSettings):
    """The shared settings every DICOMweb HTTP service composes (STOW, QIDO, WADO, DELETE):
    ``ServiceSettings``, CORS and study groups."""

    cors: CorsSettings = settings_group(CorsSettings)
    study_groups: StudyGroupsSettings = settings_group(StudyGroupsSettings)
