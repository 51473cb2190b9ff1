"""The S3 store of Compose and the dev overlay, run as they run it: the committed SeaweedFS
command and S3 identity with the real ``weed`` of the version the images pin; the services'
own S3 client signs with the Compose credentials and creates the bucket itself
(DICOMWEB_STORAGE_S3_CREATE_BUCKET), as a fresh deployment does."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from dicomcommon.adapters.storage.s3 import S3BlobStore
from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import StorageSettings
from dicomstack.errors import PortInUse
from dicomstack.ports import ensure_free, ephemeral_low, free_ports
from dicomstack.processes import binary
from tests.deploy.manifests import ROOT

_GRPC_OFFSET = 10000  # SeaweedFS's gRPC port is its HTTP port + 10000


def _with_defaults(text: str) -> str:
    """Compose's ``${NAME:-default}`` interpolation, taking every default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def s3_endpoint(compose: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("seaweedfs")
    identities = folder / "s3.json"
    identities.write_text(_with_defaults(compose["configs"]["seaweedfs-s3"]["content"]))
    command = compose["services"]["seaweedfs"]["command"]
    assert command[0] == "server"  # the image's entrypoint runs `weed server -dir=/data ...`
    s3, master, volume, filer = _ports()
    args = [a.replace("/etc/seaweedfs/s3.json", str(identities)) for a in command[1:]]
    args = [a for a in args if not a.startswith(("-s3.port=", "-ip.bind="))]
    local = [f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={s3}"]
    local += [f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}"]
    local += ["-volume.max=0", "-master.volumeSizeLimitMB=64"]
    with (folder / "weed.log").open("wb") as log:
        server = subprocess.Popen(
            [binary("weed"), "server", *args, *local], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait(f"http://127.0.0.1:{s3}/healthz", server)  # the Compose health check's URL
        yield f"http://127.0.0.1:{s3}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _ports() -> list[int]:
    """Four free ports whose gRPC companions (+10000) are free too, and below the kernel's
    ephemeral range, where an outgoing connection could take one before weed binds it."""
    while True:
        ports = free_ports("127.0.0.1", 4)
        if all(p + _GRPC_OFFSET < ephemeral_low() and _free(p + _GRPC_OFFSET) for p in ports):
            return ports


def _free(port: int) -> bool:
    try:
        ensure_free("127.0.0.1", port, "weed gRPC")
    except PortInUse:
        return False
    return True


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "weed exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


async def test_services_create_their_bucket_and_store_with_the_compose_credentials(
    compose: dict[str, Any], s3_endpoint: str
) -> None:
    environment = {
        k: _with_defaults(str(v)) for k, v in compose["x-service"]["environment"].items()
    }
    assert environment["DICOMWEB_STORAGE_S3_CREATE_BUCKET"] == "true"
    settings = StorageSettings(
        backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=environment["DICOMWEB_STORAGE_S3_BUCKET"],
        s3_access_key_id=SecretStr(environment["DICOMWEB_STORAGE_S3_ACCESS_KEY_ID"]),
        s3_secret_access_key=SecretStr(environment["DICOMWEB_STORAGE_S3_SECRET_ACCESS_KEY"]),
        s3_create_bucket=True,
    )
    store = await _open(settings)
    try:
        await store.check()
        body = b"DICM" * 1000
        await store.put("deploy/check/blob", io.BytesIO(body), len(body))
        assert await store.read("deploy/check/blob") == body
    finally:
        await store.close()


async def test_a_wrong_secret_is_refused(compose: dict[str, Any], s3_endpoint: str) -> None:
    identity = json.loads(_with_defaults(compose["configs"]["seaweedfs-s3"]["content"]))
    (credentials,) = identity["identities"][0]["credentials"]
    right = SecretStr(credentials["secretKey"])
    settings = StorageSettings(
        backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id=SecretStr(credentials["accessKey"]),
        s3_secret_access_key=SecretStr("not-" + credentials["secretKey"]),
        s3_create_bucket=True,
    )
    await (await _open(settings.model_copy(update={"s3_secret_access_key": right}))).close()
    with pytest.raises(BackendUnavailable, match="refused"):
        store = await S3BlobStore.open(settings)
        await store.close()


async def _open(settings: StorageSettings) -> S3BlobStore:
    """The store, once SeaweedFS has loaded its identities: it answers /healthz (what the
    Compose health check asks) a moment before it accepts signatures; the services retry the
    same way (503 until the store answers)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await S3BlobStore.open(settings)
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def test_dev_overlay_runs_the_same_command(compose: dict[str, Any]) -> None:
    text = (ROOT / "deploy/k8s/overlays/dev/seaweedfs.yaml").read_text()
    deployment = next(yaml.safe_load_all(text))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config = Path("/etc/seaweedfs/s3/s3.json")
    expected = [
        a.replace("/etc/seaweedfs/s3.json", str(config))
        for a in compose["services"]["seaweedfs"]["command"]
    ]
    assert container["args"] == expected
    assert container["image"] == compose["services"]["seaweedfs"]["image"]
