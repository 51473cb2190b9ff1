"""Helpers for the deployment tests: the repository root, the tools installed from PyPI into the
same environment as pytest, every DICOMWEB_* variable a service reads, and Kubernetes schema
validation (built-in kinds by kubernetes-validate, Traefik's CRD kinds by a schema here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from pydantic_settings import BaseSettings

from delow.settings import Settings as DelowSettings
from dicomcommon.settings import HttpSettings, NatsSettings, PostgresSettings, StorageSettings
from dimse.settings import Settings as DimseSettings
from indexer.settings import Settings as IndexerSettings
from qido.settings import Settings as QidoSettings
from stow.settings import Settings as StowSettings
from wado.settings import Settings as WadoSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The oldest Kubernetes the manifests support, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())

_SHARED = (PostgresSettings, NatsSettings, StorageSettings, HttpSettings)
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
    names: set[str] = set()
    for cls in (*_SHARED, *_SERVICES):
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field, info in cls.model_fields.items():
            nested = isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)
            if not nested:
                names.add(f"{prefix}{field}".upper())
    return names


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "namespace": _NAME, "labels": {"type": "object"}},
}
_REF = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": _NAME,
        "namespace": _NAME,
        "port": {"type": ["integer", "string"]},
        "kind": {"enum": ["Service", "TraefikService"]},
    },
}
# The parts of Traefik v3's CRDs (traefik.io/v1alpha1) these manifests use, unknown keys refused.
TRAEFIK_SCHEMAS: dict[str, dict[str, Any]] = {
    "IngressRoute": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "traefik.io/v1alpha1"},
            "kind": {"const": "IngressRoute"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["routes"],
                "additionalProperties": False,
                "properties": {
                    "entryPoints": {"type": "array", "items": {"type": "string"}},
                    "tls": {"type": "object"},
                    "routes": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["match", "services"],
                            "additionalProperties": False,
                            "properties": {
                                "kind": {"enum": ["Rule"]},
                                "match": {"type": "string", "minLength": 1},
                                "priority": {"type": "integer"},
                                "services": {"type": "array", "minItems": 1, "items": _REF},
                                "middlewares": {"type": "array", "items": _REF},
                            },
                        },
                    },
                },
            },
        },
    },
    "Middleware": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "traefik.io/v1alpha1"},
            "kind": {"const": "Middleware"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "replacePath": {
                        "type": "object",
                        "required": ["path"],
                        "additionalProperties": False,
                        "properties": {"path": {"type": "string"}},
                    }
                },
                "additionalProperties": {"type": "object"},
            },
        },
    },
}


def validate_object(obj: dict[str, Any]) -> None:
    """Raise unless ``obj`` matches its kind's schema (strict: no unknown fields)."""
    if obj["apiVersion"].startswith("traefik.io/"):
        jsonschema.validate(obj, TRAEFIK_SCHEMAS[obj["kind"]])
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
