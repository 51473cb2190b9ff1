"""deploy/k8s: both overlays render with kubectl's kustomize, every object is valid against the
Kubernetes schemas (Traefik's for its CRD kinds), and the objects are wired as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dicomcommon.routes import SERVICES
from dicomstack import deploy
from tests.deploy.manifests import load_all, settings_variables, tool, validate_object

OVERLAYS = ("dev", "production")


def _render(overlay: str) -> list[dict[str, Any]]:
    result = tool("kubectl", "kustomize", f"deploy/k8s/overlays/{overlay}")
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _render(request.param)


def _named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_is_valid(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for obj in objects:
        validate_object(obj)


def test_each_service_has_deployment_service_autoscaler_and_budget(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(SERVICES) <= set(_named(objects, kind)), kind


def test_deployments_probe_liveness_and_readiness(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    deployments = _named(objects, "Deployment")
    for name in SERVICES:
        spec = deployments[name]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["args"] == [name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"]
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_settings_are_real_and_complete(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("dicomweb-config")]
    assert set(config["data"]) <= settings_variables()
    targets = json.loads(config["data"]["DICOMWEB_INDEXER_HEALTH_TARGETS"])
    assert set(SERVICES) - {"indexer"} <= set(targets)
    if overlay == "production":
        assert config["data"]["DICOMWEB_NATS_STREAM_REPLICAS"] == "3"
    else:
        secrets = [o for o in objects if o["metadata"]["name"].startswith("dicomweb-secrets")]
        (secret,) = secrets
        assert set(secret["data"]) <= settings_variables()


def test_migration_job_only_migrates(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    job = _named(objects, "Job")["dicomweb-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["indexer", "migrate"]


def test_dev_runs_backing_services_and_the_gateway_in_cluster() -> None:
    objects = _render("dev")
    assert {"postgres", "nats"} <= set(_named(objects, "StatefulSet"))
    assert {"minio", "gateway"} <= set(_named(objects, "Deployment"))
    (ingress,) = _named(objects, "Ingress").values()
    assert ingress["spec"] == deploy.ingress()["spec"]


def test_production_routes_with_the_generated_ingressroute() -> None:
    objects = _render("production")
    route = _named(objects, "IngressRoute")["dicomweb"]
    expected, *middlewares = deploy.ingressroute()
    assert route["spec"]["routes"] == expected["spec"]["routes"]
    assert route["spec"]["entryPoints"] == ["websecure"]
    assert set(_named(objects, "Middleware")) == {m["metadata"]["name"] for m in middlewares}
    assert not {"postgres", "nats", "minio"} & set(_named(objects, "StatefulSet"))
