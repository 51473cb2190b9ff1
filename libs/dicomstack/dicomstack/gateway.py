"""The Traefik gateway, its configuration generated from ``dicomcommon.web.routes.GATEWAY_ROUTES``.

One router per route (its rule and priority verbatim), one load-balanced service per DICOMweb
service with a server per replica. Nothing here is hand-written per route, so the gateway cannot
drift from the routes table. Traefik's ping and its read-only API live on their own entry point
so that the public port exposes only the routes table; the indexer's aggregated ``/healthz``
polls the ping there, and the launcher asks the API whether a restarted replica is routed again.
The files are JSON, which is valid YAML for Traefik's file provider. With an OTLP endpoint
configured (``TracingSettings``), Traefik continues the caller's W3C ``traceparent``, exports its
own spans there and passes the context on to the services.

While no replica of a service is healthy, Traefik answers its own 503, which carries no
``Retry-After``. So each router's service is a failover: the replicas first, else Traefik's own
loopback-only ``fallback`` entry point, where a catch-all router with a ``headers`` middleware
adds ``Retry-After`` to the 503 of a service with no servers. Only that case gets the header;
the services' own 503s (which carry it already, with their reason) pass through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from dicomcommon.settings import TracingSettings
from dicomcommon.web.routes import GATEWAY_ROUTES, Route
from dicomstack.processes import ChildProcess, binary, http_ok

PUBLIC_ENTRYPOINT = "web"
PING_ENTRYPOINT = "ping"
FALLBACK_ENTRYPOINT = "fallback"
FALLBACK_HOST = "127.0.0.1"  # the gateway talking to itself: never exposed
RETRY_AFTER_SECONDS = 5
_UNAVAILABLE = "unavailable"
# Traefik's own liveness under the same paths the services use, so health targets are uniform.
PING_RULE = "Path(`/ping`) || Path(`/healthz`) || Path(`/readyz`)"
API_RULE = "PathPrefix(`/api`)"
# Large STOW uploads may take longer than Traefik's 60 s default read timeout.
READ_TIMEOUT = "600s"
GATEWAY_PART = "gateway"  # the gateway's name in health reports and traces


def dynamic_config(service_urls: Mapping[str, Sequence[str]], fallback_port: int) -> dict[str, Any]:
    """Routers from GATEWAY_ROUTES and per service a failover from its replicas (``NAME-replicas``,
    a loadBalancer) to the 503-with-Retry-After fallback.

    Servers are checked on ``/healthz`` (liveness, not readiness), so a replica that is up but
    whose database is down still answers its own 503 with Retry-After instead of Traefik's.
    Checks run every second, so a restarted replica gets traffic again at once; each may take
    three, so a replica busy with a burst of work is not taken out of the pool for being slow.
    """
    routers: dict[str, Any] = {route.name: _router(route) for route in GATEWAY_ROUTES}
    routers["ping"] = {
        "entryPoints": [PING_ENTRYPOINT],
        "rule": PING_RULE,
        "service": "ping@internal",
    }
    routers["api"] = {"entryPoints": [PING_ENTRYPOINT], "rule": API_RULE, "service": "api@internal"}
    services: dict[str, Any] = {}
    for name, urls in service_urls.items():
        services[replicas_name(name)] = {
            "loadBalancer": {
                "servers": [{"url": url} for url in urls],
                "passHostHeader": True,
                "healthCheck": {"path": "/healthz", "interval": "1s", "timeout": "3s"},
            }
        }
        services[name] = {"failover": {"service": replicas_name(name), "fallback": _UNAVAILABLE}}
    fallback_url = f"http://{FALLBACK_HOST}:{fallback_port}"
    services[_UNAVAILABLE] = {"loadBalancer": {"servers": [{"url": fallback_url}]}}
    middlewares: dict[str, Any] = {
        _rewrite_name(route): {"replacePath": {"path": route.rewrite_path}}
        for route in GATEWAY_ROUTES
        if route.rewrite_path
    }
    unavailable = unavailable_config(FALLBACK_ENTRYPOINT)["http"]
    routers |= unavailable["routers"]
    services |= unavailable["services"]
    middlewares |= unavailable["middlewares"]
    return {"http": {"routers": routers, "services": services, "middlewares": middlewares}}


def unavailable_config(entrypoint: str) -> dict[str, Any]:
    """Every request on ``entrypoint`` answered 503 with ``Retry-After``: a catch-all router to
    a service with no servers (Traefik's own 503) and a ``headers`` middleware adding the
    header. The gateway's fallback, and in IngressRoute deployments the page that Traefik's
    ``errors`` middleware fetches when a service has no ready endpoint."""
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    router = {
        "entryPoints": [entrypoint],
        "rule": "PathPrefix(`/`)",
        "priority": 1,
        "service": "nowhere",
        "middlewares": [_UNAVAILABLE],
    }
    return {
        "http": {
            "routers": {_UNAVAILABLE: router},
            "services": {"nowhere": {"loadBalancer": {"servers": []}}},
            "middlewares": {_UNAVAILABLE: {"headers": {"customResponseHeaders": retry}}},
        }
    }


def replicas_name(service: str) -> str:
    """The loadBalancer over a service's replicas (its router's service is the failover)."""
    return f"{service}-replicas"


def _rewrite_name(route: Route) -> str:
    return f"{route.name}-path"


def _router(route: Route) -> dict[str, Any]:
    """The route's rule and priority verbatim; a path rewrite where the service's path differs."""
    router: dict[str, Any] = {
        "entryPoints": [PUBLIC_ENTRYPOINT],
        "rule": route.traefik_rule(),
        "priority": route.priority,
        "service": route.service,
    }
    if route.rewrite_path:
        router["middlewares"] = [_rewrite_name(route)]
    return router


def tracing_config(settings: TracingSettings, traces_url: str) -> dict[str, Any]:
    """Traefik's ``tracing`` section: its spans to ``traces_url`` under the gateway's service
    name, sampled as the services sample (a caller's sampled flag is followed either way;
    Traefik redacts query parameters by default)."""
    rate = 1.0
    if settings.traces_sampler.endswith("always_off"):
        rate = 0.0
    elif settings.traces_sampler.endswith("traceidratio"):
        rate = settings.traces_sampler_arg
    return {
        "serviceName": settings.service(GATEWAY_PART),
        "sampleRate": rate,
        "otlp": {"http": {"endpoint": traces_url}},
    }


def static_config(
    host: str,
    ports: tuple[int, int, int],
    dynamic_path: Path,
    tracing: TracingSettings | None = None,
) -> dict[str, Any]:
    """Entry points (public, ping, loopback fallback), the file provider, ping, the fast proxy
    (or tracing, when ``tracing`` names an endpoint); access log off (the services log each
    request)."""
    port, ping_port, fallback_port = ports
    config: dict[str, Any] = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            PUBLIC_ENTRYPOINT: {
                "address": f"{host}:{port}",
                "transport": {"respondingTimeouts": {"readTimeout": READ_TIMEOUT}},
            },
            PING_ENTRYPOINT: {"address": f"{host}:{ping_port}"},
            FALLBACK_ENTRYPOINT: {"address": f"{FALLBACK_HOST}:{fallback_port}"},
        },
        "ping": {"entryPoint": PING_ENTRYPOINT, "manualRouting": True},
        "api": {"dashboard": False},
        "providers": {"file": {"filename": str(dynamic_path), "watch": False}},
        "log": {"level": "ERROR"},
        # Traefik's HTTP/1.1 proxy to the services on fasthttp: measured here, a 1,000-instance
        # series 8.9 -> 10.1 series/s and a 100-study page 167 -> 215 req/s; bodies still stream
        # both ways (600 MB up and down with Traefik at 100 MiB RSS). Marked experimental by
        # Traefik; without HTTP/2 to the services, which they do not speak anyway.
        "experimental": {"fastProxy": {}},
    }
    traces_url = tracing.traces_url if tracing is not None else None
    if tracing is not None and traces_url is not None:
        config["tracing"] = tracing_config(tracing, traces_url)
        # The fast proxy forwards the caller's traceparent untouched instead of its own span's:
        # the services' spans would not hang under the gateway's (nor join its trace at all
        # when the caller sends none). Traced, the gateway uses Traefik's standard proxy.
        del config["experimental"]
    return config


class Gateway(ChildProcess):
    """Traefik on the public port; healthy once ``/healthz`` answers through it."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        host: str,
        ports: tuple[int, int, int],
        service_urls: Mapping[str, Sequence[str]],
        tracing: TracingSettings | None = None,
    ) -> None:
        self.host = host
        self.tracing = tracing
        self.port, self.ping_port, self.fallback_port = ports
        self.static_path = data_dir / "traefik.yaml"
        self.dynamic_path = data_dir / "routes.yaml"
        self.service_urls = service_urls
        argv = [binary("traefik"), f"--configFile={self.static_path}"]
        health = http_ok(f"{self.url}/healthz")
        super().__init__(GATEWAY_PART, argv, log_path=log_path, health=health)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ping_url(self) -> str:
        return f"http://{self.host}:{self.ping_port}"

    def routes_to(self, service: str, url: str) -> bool:
        """Whether Traefik's health check currently counts ``url`` as an UP server of ``service``
        (after a restart it needs one check interval to send traffic there again)."""
        try:
            api = f"{self.ping_url}/api/http/services/{replicas_name(service)}@file"
            response = httpx.get(api, timeout=1.0)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        return bool(response.json().get("serverStatus", {}).get(url) == "UP")

    def spawn(self) -> None:
        self.static_path.parent.mkdir(parents=True, exist_ok=True)
        ports = (self.port, self.ping_port, self.fallback_port)
        static = static_config(self.host, ports, self.dynamic_path, self.tracing)
        dynamic = dynamic_config(self.service_urls, self.fallback_port)
        self.dynamic_path.write_text(json.dumps(dynamic, indent=2))
        self.static_path.write_text(json.dumps(static, indent=2))
        super().spawn()
