"""The image: hadolint finds nothing, and it installs the services without the launcher."""

from __future__ import annotations

import subprocess

from tests.deploy.manifests import ROOT, tool


def test_dockerfile_passes_hadolint() -> None:
    result = tool("hadolint", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_installs_every_service_and_no_launcher() -> None:
    """The Dockerfile's ``uv export`` (same flags) names the five services and not dicomstack,
    whose embedded PostgreSQL, NATS, Traefik and SeaweedFS binaries have no place in it."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = ["stow", "qido", "wado", "delow", "indexer"]
    for package in packages:
        assert f"--package {package}" in dockerfile
    args = [str(ROOT / ".tools/bin/uv"), "export", "--frozen", "--no-dev", "--no-hashes"]
    args += ["--no-editable", *(f"--package={p}" for p in packages)]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for package in packages:
        assert f"./services/{package}" in lines
    assert not [line for line in lines if "dicomstack" in line or "-bin==" in line]


def test_dockerignore_keeps_only_what_the_build_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :][:4] == [
        "!pyproject.toml",
        "!uv.lock",
        "!libs/",
        "!services/",
    ]


def test_image_requires_authentication_unless_switched_off() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "DICOMWEB_AUTH_ENABLED=true" in dockerfile
    assert "DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED=true" not in dockerfile.split("ENV", 1)[1]
