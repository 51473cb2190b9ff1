"""What each service replica is told: the contract, and the loopback CORS origins of a local
viewer unless the environment names its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomcommon.settings import CorsSettings, StorageSettings
from dicomstack import services

BACKENDS = services.Backends(
    "postgresql://p@127.0.0.1:1/d", "nats://127.0.0.1:2", StorageSettings(root=Path("/b")), "u"
)


def test_the_launcher_allows_the_loopback_origins_of_a_local_viewer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = services.service_env({}, BACKENDS, "127.0.0.1", 8000)
    assert env["DICOMWEB_CORS_ALLOW_ORIGIN_REGEX"] == services.LOOPBACK_ORIGINS
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert CorsSettings().allow_origin_regex == services.LOOPBACK_ORIGINS


@pytest.mark.parametrize(
    "configured", ["DICOMWEB_CORS_ALLOW_ORIGINS", "DICOMWEB_CORS_ALLOW_ORIGIN_REGEX"]
)
def test_configured_origins_replace_the_loopback_default(configured: str) -> None:
    env = services.service_env({configured: "https://viewer.example"}, BACKENDS, "h", 1)
    assert env[configured] == "https://viewer.example"
    if configured != "DICOMWEB_CORS_ALLOW_ORIGIN_REGEX":
        assert "DICOMWEB_CORS_ALLOW_ORIGIN_REGEX" not in env
