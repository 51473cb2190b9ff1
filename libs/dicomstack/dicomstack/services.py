"""The five DICOMweb services as child processes: ``python -m <service>`` per replica.

Each replica gets the service environment contract (``DICOMWEB_HTTP_*``, ``DICOMWEB_POSTGRES_URL``,
``DICOMWEB_NATS_URL``, ``DICOMWEB_STORAGE_*``); any other ``DICOMWEB_*`` variable of the
launcher passes through, so a service setting can be tuned without touching the launcher; so do
the ``OTEL_*`` variables of tracing, which the gateway follows too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dicomcommon.settings import StorageSettings, TracingSettings
from dicomstack.processes import ChildProcess, http_ok

LAUNCHER_PREFIX = "DICOMWEB_STACK_"
# A viewer on this machine (OHIF's dev server on http://localhost:3000, …) may call the local
# stack from the browser; no other web page may. Setting DICOMWEB_CORS_ALLOW_ORIGINS or
# DICOMWEB_CORS_ALLOW_ORIGIN_REGEX replaces this.
LOOPBACK_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$"
_CORS_SETTINGS = ("DICOMWEB_CORS_ALLOW_ORIGINS", "DICOMWEB_CORS_ALLOW_ORIGIN_REGEX")


@dataclass(frozen=True)
class Backends:
    """What every service replica is told about the rest of the stack."""

    postgres_url: str
    nats_url: str
    storage: StorageSettings
    public_base_url: str


def storage_env(storage: StorageSettings) -> dict[str, str]:
    """``StorageSettings`` back into the variables it is read from."""
    env = {
        "DICOMWEB_STORAGE_BACKEND": storage.backend,
        "DICOMWEB_STORAGE_ROOT": str(storage.root),
        "DICOMWEB_STORAGE_S3_BUCKET": storage.s3_bucket,
        "DICOMWEB_STORAGE_S3_REGION": storage.s3_region,
    }
    if storage.s3_endpoint_url:
        env["DICOMWEB_STORAGE_S3_ENDPOINT_URL"] = storage.s3_endpoint_url
    if storage.s3_access_key_id:
        env["DICOMWEB_STORAGE_S3_ACCESS_KEY_ID"] = storage.s3_access_key_id.get_secret_value()
    if storage.s3_secret_access_key:
        secret = storage.s3_secret_access_key.get_secret_value()
        env["DICOMWEB_STORAGE_S3_SECRET_ACCESS_KEY"] = secret
    return env


def service_env(
    inherited: Mapping[str, str], backends: Backends, host: str, port: int
) -> dict[str, str]:
    """The launcher's environment minus its own settings, plus the contract (which wins), and
    the loopback origins for CORS unless the environment names its own."""
    env = {k: v for k, v in inherited.items() if not k.startswith(LAUNCHER_PREFIX)}
    if not any(name in inherited for name in _CORS_SETTINGS):
        env["DICOMWEB_CORS_ALLOW_ORIGIN_REGEX"] = LOOPBACK_ORIGINS
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DICOMWEB_HTTP_HOST": host,
            "DICOMWEB_HTTP_PORT": str(port),
            "DICOMWEB_HTTP_PUBLIC_BASE_URL": backends.public_base_url,
            "DICOMWEB_POSTGRES_URL": backends.postgres_url,
            "DICOMWEB_NATS_URL": backends.nats_url,
            **storage_env(backends.storage),
        }
    )
    return env


def tracing_settings(environ: Mapping[str, str]) -> TracingSettings:
    """The ``OTEL_*`` variables the services inherit, read as they read them, for the gateway
    (which exports its spans where they do)."""
    prefix = "OTEL_"
    found = {k.removeprefix(prefix).lower(): v for k, v in environ.items() if k.startswith(prefix)}
    return TracingSettings.model_validate({k: v for k, v in found.items() if v})


def health_targets(service_urls: Mapping[str, list[str]], gateway_ping_url: str | None) -> str:
    """``DICOMWEB_INDEXER_HEALTH_TARGETS``: name (``stow-0``, ``gateway``) → base URL of every
    replica except the indexer's own; each answers ``GET {base}/healthz``."""
    targets = {
        f"{service}-{index}": url
        for service, urls in service_urls.items()
        if service != "indexer"
        for index, url in enumerate(urls)
    }
    if gateway_ping_url:
        targets["gateway"] = gateway_ping_url
    return json.dumps(targets)


def replica(
    service: str, index: int, url: str, env: Mapping[str, str], log_dir: Path
) -> ChildProcess:
    """One replica; healthy when its ``/readyz`` says its dependencies answer."""
    name = f"{service}-{index}"
    return ChildProcess(
        name,
        [sys.executable, "-m", service],
        log_path=log_dir / f"{name}.log",
        health=http_ok(f"{url}/readyz"),
        env=env,
    )
