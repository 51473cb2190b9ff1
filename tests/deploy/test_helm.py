"""deploy/helm/dicomweb: Helm's own library lints and renders the chart offline (both routing
modes), every object is valid against the Kubernetes schemas, and its routes are the table's."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import pytest
import yaml

from dicomcommon.routes import SERVICES
from dicomstack import deploy
from tests.deploy.manifests import ROOT, load_all, settings_variables, validate_object

CHART = ROOT / "deploy/helm/dicomweb"
RELEASE = "pacs"
FULLNAME = "pacs-dicomweb"
PRODUCTION = {
    "nats": {"url": "nats://nats.nats:4222", "streamReplicas": 3},
    "secrets": {"existingSecret": "dicomweb-secrets"},
    "routing": {"entryPoints": ["websecure"], "tls": True},
    "extraEnv": {"DICOMWEB_STOW_DUPLICATE_POLICY": "reject"},
}


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm_python.Chart.load(CHART)
    manifests = chart.render(values, name=RELEASE, namespace="imaging", is_install=True)
    return [
        obj
        for path, text in sorted(manifests.items())
        if path.endswith((".yaml", ".yml"))
        for obj in load_all(text)
    ]


def _named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.fixture(
    scope="module",
    params=[{}, {"routing": {"mode": "gateway"}}, PRODUCTION],
    ids=["default", "gateway", "production"],
)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _render(request.param)


def test_chart_lints_clean() -> None:
    report = helm_python.lint(CHART, strict=True)
    assert not report["errors"]
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


def test_every_object_is_valid(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        validate_object(obj)


def test_each_service_has_its_objects_and_probes(rendered: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert {f"{FULLNAME}-{s}" for s in SERVICES} <= set(_named(rendered, kind)), kind
    for name in SERVICES:
        deployment = _named(rendered, "Deployment")[f"{FULLNAME}-{name}"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (job,) = _named(rendered, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["indexer", "migrate"]


def test_settings_are_real(rendered: list[dict[str, Any]]) -> None:
    config = _named(rendered, "ConfigMap")[f"{FULLNAME}-config"]
    assert set(config["data"]) <= settings_variables()
    for secret in _named(rendered, "Secret").values():
        assert set(secret["stringData"]) <= settings_variables()


def test_ingressroute_routes_are_the_tables() -> None:
    objects = _render(PRODUCTION)
    route = _named(objects, "IngressRoute")[FULLNAME]
    expected, *middlewares = deploy.ingressroute()
    prefixed = json.loads(
        json.dumps(expected["spec"]["routes"]).replace(
            '"name": "dicomweb-', f'"name": "{FULLNAME}-'
        )
    )
    for entry in prefixed:
        for service in entry["services"]:
            service["name"] = f"{FULLNAME}-{service['name']}"
    assert route["spec"]["routes"] == prefixed
    assert route["spec"]["entryPoints"] == ["websecure"]
    names = {m["metadata"]["name"].replace("dicomweb-", f"{FULLNAME}-") for m in middlewares}
    assert set(_named(objects, "Middleware")) == names
    assert _named(objects, "Secret") == {}


def test_gateway_mode_serves_the_tables_traefik_config_behind_a_plain_ingress() -> None:
    objects = _render({"routing": {"mode": "gateway"}})
    config = _named(objects, "ConfigMap")[f"{FULLNAME}-gateway"]
    assert yaml.safe_load(config["data"]["dynamic.yml"]) == deploy.traefik_file(f"{FULLNAME}-")
    assert yaml.safe_load(config["data"]["traefik.yml"]) == deploy.traefik_static()
    (ingress,) = _named(objects, "Ingress").values()
    paths = [(p["path"], p["pathType"]) for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert paths == deploy.ingress_paths()
    assert not _named(objects, "IngressRoute")
    settings = _named(objects, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    targets = json.loads(settings["DICOMWEB_INDEXER_HEALTH_TARGETS"])
    assert targets["gateway"] == f"http://{FULLNAME}-gateway:8081"
