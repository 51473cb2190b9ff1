"""The launcher's settings (``DICOMWEB_STACK_*``): where data lives, which ports, and which
backing components are external instead of started here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dicomcommon.settings import S3Bucket
from dicomcommon.web.routes import SERVICES


class StackSettings(BaseSettings, S3Bucket):
    """A port of 0 means "pick a free one" (tests); a set URL means "use that, start nothing"."""

    model_config = SettingsConfigDict(env_prefix="DICOMWEB_STACK_")

    data_dir: Path = Path(".data")
    viewer_dir: Path = Path(".viewer")  # where `make install` puts the web viewer's files
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    gateway_ping_port: int = 8081
    gateway_fallback_port: int = 8082  # loopback only: the gateway's 503 with Retry-After
    service_base_port: int = 8090
    postgres_port: int = 54329
    nats_port: int = 4222
    nats_monitor_port: int = 8222
    seaweedfs_s3_port: int = 8333
    oidc_port: int = 9400
    dimse_port: int = 11112  # the DICOM (DIMSE) listener; its AE title: DICOMWEB_DIMSE_AE_TITLE

    postgres_url: SecretStr | None = None
    nats_url: str | None = None
    storage: Literal["filesystem", "seaweedfs", "external"] = "filesystem"

    # Start a local OIDC provider and make every service require its bearer tokens.
    auth: bool = False

    replicas: dict[str, int] = {}
    startup_timeout: float = 60.0

    @classmethod
    def ephemeral(cls, data_dir: Path, **overrides: object) -> StackSettings:
        """Free ports everywhere, for tests that run beside a developer's ``make run``."""
        ports = {name: 0 for name in cls.model_fields if name.endswith("_port")}
        return cls.model_validate({"data_dir": data_dir, **ports, **overrides})

    def replica_count(self, service: str) -> int:
        return max(1, self.replicas.get(service, 1))


def parse_replicas(text: str) -> dict[str, int]:
    """``stow=2,qido=2`` → ``{"stow": 2, "qido": 2}``; unknown services are an error."""
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        service, sep, count = item.partition("=")
        if not sep or service not in SERVICES or not count.isdigit() or int(count) < 1:
            wanted = "SERVICE=N with N >= 1 and SERVICE one of " + ", ".join(SERVICES)
            raise ValueError(f"bad replicas entry {item!r}: want {wanted}")
        counts[service] = int(count)
    return counts
