"""deploy/helm/dicomweb: Helm's own library lints and renders the chart offline (both routing
modes, a production-like install), every object is valid against the Kubernetes schemas and
Traefik's, the values schema refuses a wrong value, and the routes are the table's."""

from __future__ import annotations

import json
from typing import Any

import helm_python
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
    validate_object,
    versions_under_test,
)

CHART = ROOT / "deploy/helm/dicomweb"
RELEASE = "pacs"
FULLNAME = "pacs-dicomweb"
# The least a real install names: where PostgreSQL and NATS are, and the OIDC issuer.
MINIMAL = {
    "secrets": {
        "postgresUrl": "postgresql://dicomweb:secret@postgres:5432/dicomweb",
        "natsUrl": "nats://dicomweb:secret@nats:4222",
    },
    "auth": {"issuer": "https://login.example.org/realms/hospital"},
}
PRODUCTION = {
    "publicBaseUrl": "https://pacs.example.org/dicom-web",
    "nats": {"streamReplicas": 3},
    "auth": {"issuer": "https://login.example.org/realms/hospital", "audiences": "pacs"},
    "secrets": {
        "existingSecret": "dicomweb-secrets",
        "fromSecrets": {"DICOMWEB_POSTGRES_URL": {"name": "pacs-db-app", "key": "uri"}},
    },
    "routing": {"tls": {"enabled": True, "certResolver": "letsencrypt"}},
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/pacs"}},
    "podAnnotations": {"example.org/team": "imaging"},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "imaging", "operator": "Exists", "effect": "NoSchedule"}],
    "extraVolumes": [{"name": "ca", "configMap": {"name": "hospital-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/hospital", "readOnly": True}],
    "extraEnv": {"DICOMWEB_STOW_DUPLICATE_POLICY": "reject"},
}
GATEWAY = {**MINIMAL, "routing": {"mode": "gateway"}}


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
    params=[MINIMAL, GATEWAY, PRODUCTION],
    ids=["default", "gateway", "production"],
)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _render(request.param)


@pytest.mark.parametrize("values", [MINIMAL, GATEWAY, PRODUCTION], ids=["default", "gw", "prod"])
def test_chart_lints_clean(values: dict[str, Any]) -> None:
    report = helm_python.lint(CHART, values, strict=True)
    assert not report["errors"]
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"routing": {"mode": "ingress"}}, "/routing/mode"),
        ({"routing": {"mode": "gateway", "tsl": True}}, "tsl"),
        ({"services": {"stow": {"autoscaling": {"enabled": "yes"}}}}, "/services/stow"),
        ({"nats": {"streamReplicas": 2}}, "/nats/streamReplicas"),
        ({"tracing": {"sampler": "sometimes"}}, "/tracing/sampler"),
    ],
)
def test_schema_refuses_a_wrong_value(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(helm_python.HelmError, match=complaint):
        _render({**MINIMAL, **values})
    report = helm_python.lint(CHART, {**MINIMAL, **values}, strict=True)
    assert report["errors"] or [m for m in report["messages"] if m["severity"] >= 3]


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({}, "DICOMWEB_POSTGRES_URL has no value"),
        ({"secrets": MINIMAL["secrets"]}, "auth.issuer is empty"),
        ({**MINIMAL, "auth": {"enabled": False}}, "auth.allowUnauthenticated"),
    ],
)
def test_refuses_to_render_without_secrets_or_authentication(
    values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(helm_python.HelmError, match=complaint):
        _render(values)


def test_dev_flag_invents_throwaway_credentials_and_may_switch_authentication_off() -> None:
    objects = _render({"dev": True, "auth": {"enabled": False, "allowUnauthenticated": True}})
    secret = _named(objects, "Secret")[f"{FULLNAME}-secrets"]
    assert "dev" in secret["stringData"]["DICOMWEB_POSTGRES_URL"]
    config = _named(objects, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    assert config["DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED"] == "true"


def test_every_object_is_valid(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        validate_object(obj)


def test_each_service_has_its_objects_and_probes(rendered: list[dict[str, Any]]) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert {f"{FULLNAME}-{s}" for s in SERVICES} <= set(_named(rendered, kind)), kind
    for name in SERVICES:
        deployment = _named(rendered, "Deployment")[f"{FULLNAME}-{name}"]
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz/self"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
        assert container["resources"]["requests"]["ephemeral-storage"]
        assert pod["volumes"][0]["emptyDir"]["sizeLimit"]
        assert pod["serviceAccountName"] == FULLNAME
        assert pod["topologySpreadConstraints"]


@pytest.mark.parametrize("values", [MINIMAL, PRODUCTION], ids=["default", "production"])
def test_migration_is_a_hook_before_install_and_upgrade(values: dict[str, Any]) -> None:
    rendered = _render(values)
    job = _named(rendered, "Job")[f"{FULLNAME}-migrate"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"].startswith("before-hook-creation")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["indexer", "migrate"]
    variables = {e["name"] for e in container.get("env", [])}
    sources = container.get("envFrom", [])
    assert "DICOMWEB_POSTGRES_URL" in variables or sources
    if "extraVolumes" in values:
        assert job["spec"]["template"]["spec"]["volumes"] == values["extraVolumes"]
    for source in sources:  # a Secret that exists before the hook runs
        name = source["secretRef"]["name"]
        if name.startswith(FULLNAME):
            hook = _named(rendered, "Secret")[name]["metadata"]["annotations"]
            assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_settings_are_real_and_say_how_to_authenticate(rendered: list[dict[str, Any]]) -> None:
    config = _named(rendered, "ConfigMap")[f"{FULLNAME}-config"]
    assert set(config["data"]) <= settings_variables()
    assert set(AUTH_REQUIRED) <= set(config["data"])
    assert config["data"]["DICOMWEB_AUTH_ENABLED"] == "true"
    assert "DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED" not in config["data"]
    assert "DICOMWEB_NATS_URL" not in config["data"], "NATS credentials belong in a Secret"
    for secret in _named(rendered, "Secret").values():
        assert set(secret["stringData"]) <= settings_variables()


def test_backing_images_are_the_tested_versions(rendered: list[dict[str, Any]]) -> None:
    assert_tested(images(rendered))


def test_production_reads_existing_secrets_and_cloud_identity() -> None:
    objects = _render(PRODUCTION)
    assert not _named(objects, "Secret")
    (account,) = _named(objects, "ServiceAccount").values()
    assert account["metadata"]["annotations"] == PRODUCTION["serviceAccount"]["annotations"]
    pod = _named(objects, "Deployment")[f"{FULLNAME}-qido"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"secretRef": {"name": "dicomweb-secrets"}} in container["envFrom"]
    assert container["env"] == [
        {
            "name": "DICOMWEB_POSTGRES_URL",
            "valueFrom": {"secretKeyRef": {"name": "pacs-db-app", "key": "uri"}},
        }
    ]
    assert pod["nodeSelector"] == PRODUCTION["nodeSelector"]
    assert pod["tolerations"] == PRODUCTION["tolerations"]
    assert {"name": "ca", "configMap": {"name": "hospital-ca"}} in pod["volumes"]
    assert PRODUCTION["extraVolumeMounts"][0] in container["volumeMounts"]
    template = _named(objects, "Deployment")[f"{FULLNAME}-qido"]["spec"]["template"]
    assert template["metadata"]["annotations"]["example.org/team"] == "imaging"


def test_name_overrides() -> None:
    objects = _render({**MINIMAL, "fullnameOverride": "archive"})
    assert "archive-stow" in _named(objects, "Deployment")
    objects = _render({**MINIMAL, "nameOverride": "imaging"})
    assert "pacs-imaging-stow" in _named(objects, "Deployment")


def test_ingressroute_routes_are_the_tables_for_the_public_host() -> None:
    objects = _render(PRODUCTION)
    route = _named(objects, "IngressRoute")[FULLNAME]
    expected, *others = deploy.ingressroute("pacs.example.org")
    prefixed = json.loads(
        json.dumps(expected["spec"]["routes"]).replace(
            '"name": "dicomweb-', f'"name": "{FULLNAME}-'
        )
    )
    for entry in prefixed:
        for service in entry["services"]:
            service["name"] = f"{FULLNAME}-{service['name']}"
            service["serversTransport"] = FULLNAME
    assert route["spec"]["routes"] == prefixed
    assert route["spec"]["entryPoints"] == ["websecure"]
    assert route["spec"]["tls"] == {"certResolver": "letsencrypt"}
    middlewares = [o for o in others if o["kind"] == "Middleware"]
    names = {m["metadata"]["name"].replace("dicomweb-", f"{FULLNAME}-") for m in middlewares}
    assert set(_named(objects, "Middleware")) == names
    transport = _named(objects, "ServersTransport")[FULLNAME]
    assert transport["spec"] == deploy.servers_transport()["spec"]


def test_default_serves_tls_on_websecure() -> None:
    route = _named(_render(MINIMAL), "IngressRoute")[FULLNAME]
    assert route["spec"]["entryPoints"] == ["websecure"]
    assert "tls" in route["spec"]


def test_gateway_mode_serves_the_tables_traefik_config_behind_a_tls_ingress() -> None:
    objects = _render(GATEWAY)
    config = _named(objects, "ConfigMap")[f"{FULLNAME}-gateway"]
    assert yaml.safe_load(config["data"]["dynamic.yml"]) == deploy.traefik_file(f"{FULLNAME}-")
    static = yaml.safe_load(config["data"]["traefik.yml"])
    assert static == deploy.traefik_static()
    assert "api" not in static, "Traefik's API is not served"
    web = static["entryPoints"]["web"]["transport"]["respondingTimeouts"]
    assert web["readTimeout"] == "600s"
    (ingress,) = _named(objects, "Ingress").values()
    paths = [(p["path"], p["pathType"]) for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert paths == deploy.ingress_paths()
    assert ingress["spec"]["rules"][0]["host"] == "dicomweb.example.org"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["dicomweb.example.org"], "secretName": f"{FULLNAME}-tls"}
    ]
    assert not _named(objects, "IngressRoute")
    assert f"{FULLNAME}-gateway" in _named(objects, "PodDisruptionBudget")
    gateway = _named(objects, "Deployment")[f"{FULLNAME}-gateway"]
    assert gateway["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    settings = _named(objects, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    targets = json.loads(settings["DICOMWEB_INDEXER_HEALTH_TARGETS"])
    assert targets["gateway"] == f"http://{FULLNAME}-gateway:8081"


@pytest.mark.parametrize("values", [MINIMAL, GATEWAY], ids=["ingressroute", "gateway"])
def test_only_the_gateway_and_indexer_reach_the_services(values: dict[str, Any]) -> None:
    objects = _render(values)
    policy = _named(objects, "NetworkPolicy")[f"{FULLNAME}-services"]
    rule, scrape = policy["spec"]["ingress"]  # the gateway's and the indexer's; Prometheus's
    assert rule["ports"] == scrape["ports"] == [{"port": "http"}]
    indexer, gateway = rule["from"]
    assert indexer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "indexer"
    if values is GATEWAY:
        assert gateway["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
        ping = _named(objects, "NetworkPolicy")[f"{FULLNAME}-gateway"]["spec"]["ingress"][1]
        assert ping["ports"] == [{"port": "ping"}]
    else:
        assert gateway["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "traefik"
        }


def test_prometheus_finds_every_service_and_may_scrape_it() -> None:
    objects = _render(PRODUCTION)
    for name in SERVICES:
        template = _named(objects, "Deployment")[f"{FULLNAME}-{name}"]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
            "8000",
            "/metrics",
        )
    monitor = _named(objects, "ServiceMonitor")[FULLNAME]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    selected = monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    assert set(selected) == set(SERVICES)
    for service in SERVICES:
        labels = _named(objects, "Service")[f"{FULLNAME}-{service}"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
    policy = _named(objects, "NetworkPolicy")[f"{FULLNAME}-services"]
    scrape = policy["spec"]["ingress"][1]
    assert scrape["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert not _named(_render(MINIMAL), "ServiceMonitor")


def test_tracing_points_the_services_and_the_gateway_at_the_collector() -> None:
    collector = "http://otel-collector.observability:4318"
    tracing = {"otlpEndpoint": collector, "sampler": "parentbased_traceidratio", "samplerArg": 0.2}
    objects = _render({**GATEWAY, "tracing": tracing})
    config = _named(objects, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == collector
    assert config["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    static = yaml.safe_load(
        _named(objects, "ConfigMap")[f"{FULLNAME}-gateway"]["data"]["traefik.yml"]
    )
    assert static["tracing"] == {
        "serviceName": "dicomweb-gateway",
        "sampleRate": 0.2,
        "otlp": {"http": {"endpoint": f"{collector}/v1/traces"}},
    }
    assert "experimental" not in static


def test_no_tracing_unless_an_endpoint_is_given() -> None:
    objects = _render(GATEWAY)
    config = _named(objects, "ConfigMap")[f"{FULLNAME}-config"]["data"]
    assert not [key for key in config if key.startswith("OTEL_")]
    static = yaml.safe_load(
        _named(objects, "ConfigMap")[f"{FULLNAME}-gateway"]["data"]["traefik.yml"]
    )
    assert static == deploy.traefik_static()


def test_every_route_answers_an_outage_with_503_and_retry_after() -> None:
    """The errors middleware on every route takes its page from the release's page server,
    a Traefik of the gateway's image serving the generated 503-with-Retry-After config."""
    objects = _render(PRODUCTION)
    route = _named(objects, "IngressRoute")[FULLNAME]
    page = f"{FULLNAME}-{deploy.UNAVAILABLE}"
    for entry in route["spec"]["routes"]:
        assert entry["middlewares"][0] == {"name": page}, entry["match"]
    errors = _named(objects, "Middleware")[page]["spec"]["errors"]
    assert errors == deploy.unavailable_middleware(page)["errors"]
    service = _named(objects, "Service")[page]
    assert service["spec"]["ports"][0]["port"] == errors["service"]["port"]
    config = _named(objects, "ConfigMap")[page]["data"]
    assert yaml.safe_load(config["dynamic.yml"]) == deploy.unavailable_dynamic()
    assert yaml.safe_load(config["traefik.yml"]) == deploy.unavailable_static()
    pod = _named(objects, "Deployment")[page]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"traefik:{versions_under_test()['traefik']}"
    assert page in _named(objects, "NetworkPolicy")
    assert page not in _named(_render(GATEWAY), "Deployment")


DIMSE = {
    **MINIMAL,
    "dimse": {
        "callingAes": {"CT1": {"permissions": ["store", "find"], "hosts": ["10.1.2.3"]}},
        "remoteAes": {"VIEWER": {"host": "viewer.imaging", "port": 104}},
        "tls": {"secretName": "dimse-tls", "caKey": "ca.crt", "requireClientCert": True},
        "service": {"type": "LoadBalancer"},
        "ingressRouteTCP": {"enabled": True, "entryPoint": "dicom"},
    },
}


def test_dimse_listens_on_tcp_with_its_settings_tls_and_a_tcp_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = _render(DIMSE)
    for obj in objects:
        validate_object(obj)
    name = f"{FULLNAME}-dimse"
    (container,) = _named(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "dicom": 11112,
    }
    for variable in container["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    settings = DimseSettings()  # the chart's values are valid settings
    assert settings.calling_aes["CT1"].hosts == {"10.1.2.3"}
    assert settings.remote_aes["VIEWER"].port == 104
    assert settings.tls_require_client_cert and settings.tls_ca_file is not None
    assert settings.tls_ca_file.startswith("/etc/dicomweb/dimse-tls/")
    service = _named(objects, "Service")[name]
    assert service["spec"]["type"] == "LoadBalancer"
    assert {p["name"] for p in service["spec"]["ports"]} == {"http", "dicom"}
    route = _named(objects, "IngressRouteTCP")[name]
    assert route["spec"]["entryPoints"] == ["dicom"]
    assert route["spec"]["routes"][0]["services"] == [{"name": name, "port": 11112}]
    policy = _named(objects, "NetworkPolicy")[name]
    assert {"ports": [{"port": "dicom"}]} in policy["spec"]["ingress"]


def test_dimse_schema_refuses_a_long_ae_title() -> None:
    with pytest.raises(helm_python.HelmError, match="/dimse/aeTitle"):
        _render({**MINIMAL, "dimse": {"aeTitle": "A_TITLE_TOO_LONG_"}})


def test_dimse_reads_its_ae_tables_from_a_configmap_of_files() -> None:
    tables = {
        "configMap": "dimse-ae",
        "callingAesKey": "calling.json",
        "remoteAesKey": "remote.json",
    }
    objects = _render({**MINIMAL, "dimse": {"aeTables": tables}})
    for obj in objects:
        validate_object(obj)
    pod = _named(objects, "Deployment")[f"{FULLNAME}-dimse"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert env["DICOMWEB_DIMSE_CALLING_AES_FILE"] == "/etc/dicomweb/dimse-ae-tables/calling.json"
    assert env["DICOMWEB_DIMSE_REMOTE_AES_FILE"] == "/etc/dicomweb/dimse-ae-tables/remote.json"
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["dimse-ae-tables"]
    assert mount == "/etc/dicomweb/dimse-ae-tables"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["dimse-ae-tables"]["configMap"] == {"name": "dimse-ae"}


def test_dimse_without_ae_table_files_mounts_none() -> None:
    pod = _named(_render(DIMSE), "Deployment")[f"{FULLNAME}-dimse"]["spec"]["template"]["spec"]
    names = {variable["name"] for variable in pod["containers"][0]["env"]}
    assert not names & {"DICOMWEB_DIMSE_CALLING_AES_FILE", "DICOMWEB_DIMSE_REMOTE_AES_FILE"}
    assert "dimse-ae-tables" not in {volume["name"] for volume in pod["volumes"]}
