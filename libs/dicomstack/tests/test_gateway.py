"""The generated Traefik configuration follows the routes table exactly: routes cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

from dicomcommon.settings import TracingSettings
from dicomcommon.web.routes import GATEWAY_ROUTES, SERVICES
from dicomstack import gateway

URLS = {
    s: [f"http://127.0.0.1:{9000 + 10 * i + r}" for r in range(2)] for i, s in enumerate(SERVICES)
}


def test_one_router_per_route_with_the_exact_rule_and_priority() -> None:
    routers = gateway.dynamic_config(URLS, 8082)["http"]["routers"]
    public = {name: r for name, r in routers.items() if r["entryPoints"] == ["web"]}
    assert set(public) == {route.name for route in GATEWAY_ROUTES}
    for route in GATEWAY_ROUTES:
        router = public[route.name]
        assert router["rule"] == route.traefik_rule()
        assert router["priority"] == route.priority
        assert router["service"] == route.service


def test_each_service_balances_over_every_replica() -> None:
    services = gateway.dynamic_config(URLS, 8082)["http"]["services"]
    for name, urls in URLS.items():
        servers = services[gateway.replicas_name(name)]["loadBalancer"]["servers"]
        assert [server["url"] for server in servers] == urls


def test_path_rewrites_come_from_the_routes_table() -> None:
    http = gateway.dynamic_config(URLS, 8082)["http"]
    for route in GATEWAY_ROUTES:
        names = http["routers"][route.name].get("middlewares", [])
        rewrites = [http["middlewares"][name]["replacePath"]["path"] for name in names]
        assert rewrites == ([route.rewrite_path] if route.rewrite_path else [])


def test_ping_is_not_on_the_public_entrypoint() -> None:
    routers = gateway.dynamic_config(URLS, 8082)["http"]["routers"]
    internal = [r for r in routers.values() if r["service"] == "ping@internal"]
    assert [r["entryPoints"] for r in internal] == [["ping"]]


def test_static_config_points_the_file_provider_at_the_routes(tmp_path: Path) -> None:
    static = gateway.static_config("0.0.0.0", (8080, 8081, 8082), tmp_path / "routes.yaml")
    assert static["entryPoints"]["web"]["address"] == "0.0.0.0:8080"
    assert static["entryPoints"]["fallback"]["address"] == "127.0.0.1:8082"  # never exposed
    assert static["providers"]["file"]["filename"] == str(tmp_path / "routes.yaml")
    assert "accessLog" not in static
    json.dumps(static)  # written as JSON, which Traefik's YAML reader accepts


def test_every_public_route_lets_cors_preflight_through() -> None:
    routers = gateway.dynamic_config(URLS, 8082)["http"]["routers"]
    for route in GATEWAY_ROUTES:
        assert "Method(`OPTIONS`)" in routers[route.name]["rule"], route.name


def test_each_service_fails_over_to_a_503_with_retry_after_when_no_replica_is_healthy() -> None:
    http = gateway.dynamic_config(URLS, 8082)["http"]
    for name in URLS:
        failover = http["services"][name]["failover"]
        assert failover["service"] == gateway.replicas_name(name)
        fallback = http["services"][failover["fallback"]]["loadBalancer"]["servers"]
        assert fallback == [{"url": "http://127.0.0.1:8082"}]
    [catch_all] = [r for r in http["routers"].values() if r["entryPoints"] == ["fallback"]]
    assert http["services"][catch_all["service"]]["loadBalancer"]["servers"] == []
    [headers] = [http["middlewares"][m]["headers"] for m in catch_all["middlewares"]]
    assert int(headers["customResponseHeaders"]["Retry-After"]) > 0


def test_tracing_exports_the_gateway_spans_through_the_standard_proxy() -> None:
    settings = TracingSettings.model_validate(
        {"exporter_otlp_endpoint": "http://collector:4318", "traces_sampler": "traceidratio",
         "traces_sampler_arg": 0.1}
    )  # fmt: skip
    static = gateway.static_config("127.0.0.1", (1, 2, 3), Path("routes.yaml"), settings)
    assert static["tracing"] == {
        "serviceName": "dicomweb-gateway",
        "sampleRate": 0.1,
        "otlp": {"http": {"endpoint": "http://collector:4318/v1/traces"}},
    }
    assert "experimental" not in static  # the fast proxy would not pass the gateway's span on


def test_no_tracing_section_without_an_endpoint() -> None:
    untraced = TracingSettings.model_validate({})
    static = gateway.static_config("127.0.0.1", (1, 2, 3), Path("routes.yaml"), untraced)
    assert "tracing" not in static and static["experimental"] == {"fastProxy": {}}
