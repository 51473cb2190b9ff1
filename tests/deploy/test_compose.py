"""docker-compose.yml: valid against the Compose specification, and wired as documented."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dicomcommon.settings import TracingSettings
from dicomcommon.web.routes import SERVICES
from dicomstack import deploy
from tests.deploy.manifests import (
    AUTH_REQUIRED,
    ROOT,
    assert_tested,
    settings_variables,
    tool,
    versions_under_test,
)

ONE_SHOTS = {"migrate"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_matches_the_compose_specification() -> None:
    result = tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_runs_with_its_module(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        assert services[name]["command"] == [name]
        assert services[name]["build"] == "."
    assert services["migrate"]["command"] == ["indexer", "migrate"]


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            )
            assert condition["condition"] == wanted, (name, dependency)
        if name not in ONE_SHOTS:
            assert "test" in service.get("healthcheck", {}), f"{name} has no health check"


def test_services_start_after_migrations_and_the_bucket(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert {"migrate", "nats", "seaweedfs"} <= set(depends)


def test_environment_names_only_real_settings(compose: dict[str, Any]) -> None:
    known = settings_variables()
    for name in (*SERVICES, "migrate"):
        variables = set(compose["services"][name]["environment"])
        assert variables <= known, f"{name}: unknown settings {variables - known}"


def test_gateway_mounts_the_generated_traefik_config(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    source, target, _ = gateway["volumes"][0].split(":")
    assert (source, target) == ("./deploy/compose", str(deploy.TRAEFIK_DIR))
    assert gateway["command"] == [f"--configFile={deploy.TRAEFIK_DIR}/traefik.yml"]
    static = yaml.safe_load((ROOT / "deploy/compose/traefik.yml").read_text())
    assert static["providers"]["file"]["filename"] == f"{deploy.TRAEFIK_DIR}/dynamic.yml"
    assert gateway["ports"] == [f"${{DICOMWEB_GATEWAY_PORT:-8080}}:{deploy.GATEWAY_PORT}"]


def test_backing_images_are_the_tested_versions(compose: dict[str, Any]) -> None:
    refs = [s["image"] for s in compose["services"].values() if "build" not in s]
    assert {ref.rpartition(":")[0] for ref in refs} == set(versions_under_test())
    assert_tested(refs)


def test_nats_runs_the_generated_configuration(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert "./deploy/compose/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]
    assert nats["command"] == ["nats-server", "--config=/etc/nats/nats.conf"]
    assert set(nats["environment"]) == set(deploy.NATS_PASSWORD_VARIABLES.values())


def test_services_require_authentication_unless_switched_off(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        environment = compose["services"][name]["environment"]
        assert set(AUTH_REQUIRED) <= set(environment), name
        assert environment["DICOMWEB_AUTH_ENABLED"] == "${DICOMWEB_AUTH_ENABLED:-true}"
        unauthenticated = environment["DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED"]
        assert unauthenticated == "${DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED:-false}"


def test_tracing_override_traces_every_service_and_the_gateway(compose: dict[str, Any]) -> None:
    path = "docker-compose.tracing.yml"
    result = tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)
    assert result.returncode == 0, result.stdout + result.stderr
    override = yaml.safe_load((ROOT / path).read_text())["services"]
    traced = {n for n, s in compose["services"].items() if s.get("build") == "."} - ONE_SHOTS
    assert traced <= set(override)
    endpoint = f"${{OTEL_EXPORTER_OTLP_ENDPOINT:-{deploy.COMPOSE_COLLECTOR}}}"
    for name in traced:
        assert override[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert set(override[name]["environment"]) <= {
            f"OTEL_{field.upper()}" for field in TracingSettings.model_fields
        }
    static = yaml.safe_load((ROOT / "deploy/compose/traefik-tracing.yml").read_text())
    assert static["tracing"]["otlp"]["http"]["endpoint"] == deploy.COMPOSE_COLLECTOR + "/v1/traces"
    config = f"--configFile={deploy.TRAEFIK_DIR}/traefik-tracing.yml"
    assert override["gateway"]["command"] == [config]
