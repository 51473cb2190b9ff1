"""deploy/k8s: both overlays render with kubectl's kustomize, every object is valid against the
Kubernetes schemas (Traefik's for its CRD kinds), and the objects are wired as documented."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dicomcommon.web.routes import SERVICES
from dicomstack import deploy
from dimse.settings import Settings as DimseSettings
from tests.deploy.manifests import (
    AUTH_REQUIRED,
    ROOT,
    assert_tested,
    images,
    load_all,
    settings_variables,
    tool,
    validate_object,
    versions_under_test,
)

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
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz/self"
        assert container["resources"]["requests"]["ephemeral-storage"]
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
        (tmp,) = spec["volumes"]
        assert tmp["emptyDir"]["sizeLimit"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert "replicas" not in deployments[name]["spec"], "the HPA owns the replica count"
        annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(deploy.SERVICE_PORT)


def test_settings_are_real_and_complete(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("dicomweb-config")]
    assert set(config["data"]) <= settings_variables()
    targets = json.loads(config["data"]["DICOMWEB_INDEXER_HEALTH_TARGETS"])
    assert set(SERVICES) - {"indexer"} <= set(targets)
    assert "DICOMWEB_NATS_URL" not in config["data"], "NATS credentials belong in the Secret"
    assert set(AUTH_REQUIRED) <= set(config["data"])
    if overlay == "production":
        assert config["data"]["DICOMWEB_NATS_STREAM_REPLICAS"] == "3"
        assert config["data"]["DICOMWEB_AUTH_ENABLED"] == "true"
        assert "DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED" not in config["data"]
    else:
        secrets = [o for o in objects if o["metadata"]["name"].startswith("dicomweb-secrets")]
        (secret,) = secrets
        assert set(secret["data"]) <= settings_variables()


def test_indexer_migrates_before_it_starts(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """An init container, not a Job: re-applied with every image, never immutable."""
    _, objects = rendered
    assert not _named(objects, "Job")
    pod = _named(objects, "Deployment")["indexer"]["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["indexer", "migrate"]
    assert migrate["image"] == pod["containers"][0]["image"]


def test_backing_images_are_the_tested_versions(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    assert_tested(images(objects))


def test_namespaces_enforce_the_restricted_pod_security_profile(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    (namespace,) = _named(objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec")
        if pod is None:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"]["drop"] == ["ALL"], container["name"]


def test_only_the_gateway_and_indexer_reach_the_services(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    policy = _named(objects, "NetworkPolicy")["dicomweb-services"]
    selected = policy["spec"]["podSelector"]["matchExpressions"][0]["values"]
    assert set(selected) == set(SERVICES)
    rule, scrape = policy["spec"]["ingress"]
    assert scrape["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    sources = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    }
    assert sources == {"gateway", "indexer"}


def test_dev_runs_backing_services_and_the_gateway_in_cluster() -> None:
    objects = _render("dev")
    assert {"postgres", "nats"} <= set(_named(objects, "StatefulSet"))
    assert {"seaweedfs", "gateway"} <= set(_named(objects, "Deployment"))
    (ingress,) = _named(objects, "Ingress").values()
    assert ingress["spec"] == deploy.ingress()["spec"]
    assert ingress["spec"]["tls"]
    config = _named(objects, "ConfigMap")
    (nats,) = [c for name, c in config.items() if name.startswith("nats-config")]
    assert nats["data"]["nats.conf"] == deploy.nats_conf()
    gateway = _named(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]
    assert gateway["containers"][0]["image"] == f"traefik:{versions_under_test()['traefik']}"


def test_dev_serves_without_authentication_only_when_told() -> None:
    (config,) = [o for o in _render("dev") if o["metadata"]["name"].startswith("dicomweb-config")]
    assert config["data"]["DICOMWEB_AUTH_ENABLED"] == "false"
    assert config["data"]["DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED"] == "true"


def test_gateway_ping_port_is_only_for_the_indexer() -> None:
    policy = _named(_render("dev"), "NetworkPolicy")["gateway"]
    public, ping = policy["spec"]["ingress"]
    assert public == {"ports": [{"port": "web"}]}
    assert ping["ports"] == [{"port": "ping"}]
    assert ping["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "indexer"
    )


def test_production_routes_with_the_generated_ingressroute() -> None:
    objects = _render("production")
    route = _named(objects, "IngressRoute")["dicomweb"]
    expected, *others = deploy.ingressroute("dicomweb.example.org")
    assert route["spec"]["routes"] == expected["spec"]["routes"]
    assert route["spec"]["entryPoints"] == ["websecure"]
    assert route["spec"]["tls"] == {"secretName": "dicomweb-tls"}
    named = {(o["kind"], o["metadata"]["name"]) for o in others}
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} >= named
    transport = _named(objects, "ServersTransport")["dicomweb"]
    assert transport["spec"]["forwardingTimeouts"]["responseHeaderTimeout"] == "600s"
    assert not {"postgres", "nats", "seaweedfs"} & set(_named(objects, "StatefulSet"))


def _render_with_components(
    tmp_path: Path, overlay: str, components: list[str], **fields: str
) -> list[dict[str, Any]]:
    """An overlay of our own (in ``tmp_path``) on ``overlay`` listing ``components``, as a
    user would write it, rendered."""
    own = tmp_path / "own"
    own.mkdir()

    def relative(path: str) -> str:  # kustomize takes no absolute paths
        return os.path.relpath(ROOT / path, own)

    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [relative(f"deploy/k8s/overlays/{overlay}")],
        "components": [relative(f"deploy/k8s/components/{c}") for c in components],
        **fields,
    }
    (own / "kustomization.yaml").write_text(json.dumps(kustomization))
    result = tool("kubectl", "kustomize", str(own))
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


def test_tracing_components_trace_the_services_and_the_gateway(tmp_path: Path) -> None:
    objects = _render_with_components(tmp_path, "dev", ["tracing", "gateway-tracing"])
    config = next(o for o in objects if o["metadata"]["name"].startswith("dicomweb-config"))
    assert config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == deploy.CLUSTER_COLLECTOR
    gateway = next(o for o in objects if o["metadata"]["name"].startswith("gateway-config"))
    static = yaml.safe_load(gateway["data"]["traefik.yml"])
    assert static["tracing"]["otlp"]["http"]["endpoint"] == deploy.CLUSTER_COLLECTOR + "/v1/traces"
    assert "experimental" not in static


def test_dimse_ae_tables_component_mounts_both_tables_from_a_secret(tmp_path: Path) -> None:
    """The component's two example tables are valid tables for the dimse settings, land in a
    Secret (hash-named, so a change rolls the pod) mounted into the dimse pod, and the two
    ``*_FILE`` settings name the mounted files."""
    objects = _render_with_components(
        tmp_path, "production", ["dimse-ae-tables"], namespace="dicomweb"
    )
    for obj in objects:
        validate_object(obj)
    [secret] = [o for o in objects if o["metadata"]["name"].startswith("dimse-ae-tables-")]
    assert secret["kind"] == "Secret"
    assert set(secret["data"]) == {"calling-aes.json", "remote-aes.json"}
    pod = _named(objects, "Deployment")["dimse"]["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "dimse-ae-tables"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "dimse-ae-tables"]
    assert mount["readOnly"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    files = {"DICOMWEB_DIMSE_CALLING_AES_FILE", "DICOMWEB_DIMSE_REMOTE_AES_FILE"}
    assert files <= settings_variables()
    tables = tmp_path / "mounted"
    tables.mkdir()
    for key, encoded in secret["data"].items():
        (tables / key).write_bytes(base64.b64decode(encoded))
        assert f"{mount['mountPath']}/{key}" in {env[name] for name in files}
    settings = DimseSettings(
        calling_aes_file=tables / "calling-aes.json", remote_aes_file=tables / "remote-aes.json"
    )
    assert settings.calling_aes and settings.remote_aes


def test_every_route_answers_an_outage_with_503_and_retry_after() -> None:
    """The errors middleware on every route takes its page from the `unavailable` Deployment,
    a Traefik serving the generated 503-with-Retry-After config, reachable by the cluster's
    Traefik."""
    objects = _render("production")
    route = _named(objects, "IngressRoute")["dicomweb"]
    middleware = f"{deploy.NAME}-{deploy.UNAVAILABLE}"
    for entry in route["spec"]["routes"]:
        assert entry["middlewares"][0] == {"name": middleware}, entry["match"]
    errors = _named(objects, "Middleware")[middleware]["spec"]["errors"]
    assert errors == deploy.unavailable_middleware()["errors"]
    service = _named(objects, "Service")[deploy.UNAVAILABLE]
    assert service["spec"]["ports"][0]["port"] == errors["service"]["port"]
    pod = _named(objects, "Deployment")[deploy.UNAVAILABLE]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"traefik:{versions_under_test()['traefik']}"
    [config] = [o for o in objects if o["metadata"]["name"].startswith("unavailable-config")]
    assert set(config["data"]) == {"traefik.yml", "dynamic.yml"}
    policy = _named(objects, "NetworkPolicy")["dicomweb-from-traefik"]
    allowed = policy["spec"]["podSelector"]["matchExpressions"][0]["values"]
    assert deploy.UNAVAILABLE in allowed
