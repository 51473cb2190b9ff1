"""Deployment files generated from the routes table, so no deployment can drift from the code.

Traefik's file-provider configuration comes from ``gateway.dynamic_config`` and
``gateway.static_config`` (the same functions the local launcher uses), with each service
addressed by its Compose / Kubernetes name. The Kubernetes IngressRoute and Middlewares are the
same routers in Traefik's CRD shape; the plain Ingress sends each route's path prefix to an
in-cluster Traefik gateway, because an Ingress cannot route by method. The Helm chart reads the
same data from ``files/routes.yaml``. The NATS of Compose and the dev overlay runs the embedded
server's settings (``dicomstack.nats``) with a user for the services and one for change-feed
subscribers. ``python -m dicomstack routes --write`` regenerates every committed file;
``tests/deploy`` fails when one differs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dicomcommon.settings import NatsSettings, TracingSettings
from dicomcommon.web.routes import GATEWAY_ROUTES, SERVICES
from dicomstack import nats
from dicomstack.gateway import (
    PING_ENTRYPOINT,
    PUBLIC_ENTRYPOINT,
    READ_TIMEOUT,
    dynamic_config,
    static_config,
    unavailable_config,
)

SERVICE_PORT = 8000  # every service's container port (DICOMWEB_HTTP_PORT)
GATEWAY_PORT = 8080
GATEWAY_PING_PORT = 8081
GATEWAY_FALLBACK_PORT = 8082  # loopback inside the gateway's container
GATEWAY_SERVICE = "gateway"
TRAEFIK_DIR = PurePosixPath("/etc/traefik")
NAME = "dicomweb"
# Stands for the Helm release's full name; the chart replaces it when rendering.
HELM_FULLNAME = "__FULLNAME__"
HEADER = (
    "# Generated from libs/dicomcommon/dicomcommon/web/routes.py by "
    "`python -m dicomstack routes --write`; do not edit.\n"
)
_REGEX_META = frozenset("()[]{}?*+|.\\$^")
# The placeholder host of the generated IngressRoute; overlays and the chart set the real one.
DEFAULT_HOST = "dicomweb.localhost"
TLS_SECRET = "dicomweb-tls"
SERVERS_TIMEOUTS = {"dialTimeout": "30s", "responseHeaderTimeout": READ_TIMEOUT}
# Where the Compose override and the kustomize components send traces when switched on: an
# OpenTelemetry collector (or Jaeger / Tempo taking OTLP) under this name.
COMPOSE_COLLECTOR = "http://otel-collector:4318"
CLUSTER_COLLECTOR = "http://otel-collector.observability:4318"
# IngressRoute mode: the small Traefik that answers 503 with Retry-After for a service with no
# ready endpoint (Traefik's ``errors`` middleware fetches its page there), and that middleware.
UNAVAILABLE = "unavailable"
UNAVAILABLE_STATUSES = ["503"]
NATS_PORT = 4222
NATS_MONITOR_PORT = 8222
NATS_STORE = PurePosixPath("/data")
# NATS users of the in-cluster / Compose NATS; passwords come from the server's environment.
NATS_SERVICES_USER = "dicomweb"
NATS_FEED_USER = "feed"
NATS_PASSWORD_VARIABLES = {
    NATS_SERVICES_USER: "NATS_SERVICES_PASSWORD",
    NATS_FEED_USER: "NATS_FEED_PASSWORD",
}


def service_urls(prefix: str = "") -> dict[str, list[str]]:
    """One URL per service, by its DNS name (Compose service, Kubernetes Service)."""
    return {s: [f"http://{prefix}{s}:{SERVICE_PORT}"] for s in SERVICES}


def traefik_file(prefix: str = "") -> dict[str, Any]:
    """The gateway's dynamic configuration (file provider), as the local launcher writes it,
    less Traefik's API: only the launcher asks it, and in a deployment nothing should."""
    config = dynamic_config(service_urls(prefix), GATEWAY_FALLBACK_PORT)
    del config["http"]["routers"]["api"]
    return config


def traefik_static(collector: str | None = None) -> dict[str, Any]:
    """The gateway's static configuration: public, ping and fallback entry points on every
    address; no API or dashboard at all (the ping entry point is on the gateway's Service, for
    health). With ``collector`` (an OTLP/HTTP base URL), Traefik exports its spans there."""
    ports = (GATEWAY_PORT, GATEWAY_PING_PORT, GATEWAY_FALLBACK_PORT)
    tracing = None
    if collector is not None:
        tracing = TracingSettings.model_validate({"exporter_otlp_endpoint": collector})
    config = static_config("", ports, Path(TRAEFIK_DIR / "dynamic.yml"), tracing)
    del config["api"]
    return config


def unavailable_static() -> dict[str, Any]:
    """The 503 page server's static configuration: its page on the public port, ping for the
    probes, nothing else."""
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            PUBLIC_ENTRYPOINT: {"address": f":{GATEWAY_PORT}"},
            PING_ENTRYPOINT: {"address": f":{GATEWAY_PING_PORT}"},
        },
        "ping": {"entryPoint": PING_ENTRYPOINT},
        "providers": {"file": {"filename": str(TRAEFIK_DIR / "dynamic.yml"), "watch": False}},
        "log": {"level": "ERROR"},
    }


def unavailable_dynamic() -> dict[str, Any]:
    """Every request on the public port: 503 with Retry-After (``gateway.unavailable_config``)."""
    return unavailable_config(PUBLIC_ENTRYPOINT)


def unavailable_middleware(service: str = UNAVAILABLE) -> dict[str, Any]:
    """Traefik's ``errors`` middleware: a 503 of the routed service (Traefik's own, when no
    endpoint is ready, and the services' own) is answered with the page of ``service``, whose
    headers (Retry-After) Traefik keeps while the status stays 503."""
    page = {"name": service, "port": GATEWAY_PORT}
    return {"errors": {"status": UNAVAILABLE_STATUSES, "service": page, "query": "/"}}


def _public_routers() -> list[dict[str, Any]]:
    routers = traefik_file()["http"]["routers"].values()
    return [r for r in routers if r["entryPoints"] == [PUBLIC_ENTRYPOINT]]


def _public_middlewares() -> dict[str, Any]:
    """The middlewares the public routers use (the gateway's own fallback is not one)."""
    used = {m for r in _public_routers() for m in r.get("middlewares", [])}
    return {k: v for k, v in traefik_file()["http"]["middlewares"].items() if k in used}


def helm_values() -> dict[str, Any]:
    """What the chart templates need: routes, middlewares, ingress paths, gateway config."""
    return {
        "routes": [
            {
                "service": r["service"],
                "match": r["rule"],
                "priority": r["priority"],
                "middlewares": [UNAVAILABLE, *r.get("middlewares", [])],
            }
            for r in _public_routers()
        ],
        "middlewares": {
            UNAVAILABLE: unavailable_middleware(f"{HELM_FULLNAME}-{UNAVAILABLE}"),
            **_public_middlewares(),
        },
        "unavailable": {"static": unavailable_static(), "dynamic": unavailable_dynamic()},
        "ingressPaths": [{"path": p, "pathType": t} for p, t in ingress_paths()],
        "serversTimeouts": SERVERS_TIMEOUTS,
        "gateway": {"static": traefik_static(), "dynamic": traefik_file(f"{HELM_FULLNAME}-")},
    }


def ingressroute(host: str = DEFAULT_HOST) -> list[dict[str, Any]]:
    """Traefik's IngressRoute (one route per router, each limited to ``host``, so a shared
    Traefik serves other sites' ``/healthz`` and ``/dicom-web`` as before), its Middlewares,
    and the ServersTransport that lets a request run as long as the gateway's read timeout."""
    routes = [
        {
            "kind": "Rule",
            "match": host_rule(host, r["rule"]),
            "priority": r["priority"],
            "services": [{"name": r["service"], "port": SERVICE_PORT, "serversTransport": NAME}],
            "middlewares": [
                {"name": f"{NAME}-{m}"} for m in [UNAVAILABLE, *r.get("middlewares", [])]
            ],
        }
        for r in _public_routers()
    ]
    middlewares = [
        {
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "Middleware",
            "metadata": {"name": f"{NAME}-{name}"},
            "spec": spec,
        }
        for name, spec in {UNAVAILABLE: unavailable_middleware(), **_public_middlewares()}.items()
    ]
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": NAME},
        "spec": {"routes": routes},
    }
    return [route, *middlewares, servers_transport()]


def host_rule(host: str, rule: str) -> str:
    """``rule`` limited to requests for ``host`` (the host stands between the first backticks,
    where kustomize's replacement and the chart put the configured one)."""
    return f"Host(`{host}`) && ({rule})"


def servers_transport() -> dict[str, Any]:
    """Traefik's connection to the services: a service may take as long to answer as the
    gateway lets a request body take to arrive (large STOW uploads)."""
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "ServersTransport",
        "metadata": {"name": NAME},
        "spec": {"forwardingTimeouts": SERVERS_TIMEOUTS},
    }


def ingress_paths() -> list[tuple[str, str]]:
    """The fewest Ingress paths that cover every route: (path, pathType), sorted.

    A route's path is the literal start of its regex, cut at the last ``/`` before the first
    regex character (a Prefix, which Kubernetes matches by whole segments), or the whole path
    when the regex is literal (Exact)."""
    wanted = {_ingress_path(route.path_regex) for route in GATEWAY_ROUTES}
    prefixes = [p for p, kind in wanted if kind == "Prefix"]

    def covered(path: str) -> bool:
        return any(path != p and (path + "/").startswith(p.rstrip("/") + "/") for p in prefixes)

    return sorted((p, kind) for p, kind in wanted if not covered(p))


def _ingress_path(regex: str) -> tuple[str, str]:
    body = regex.removeprefix("^")
    end = next((i for i, ch in enumerate(body) if ch in _REGEX_META), len(body))
    literal, rest = body[:end], body[end:]
    if rest in ("", "$"):
        return literal, "Exact"
    return literal[: literal.rfind("/")] or "/", "Prefix"


def ingress() -> dict[str, Any]:
    """A plain Ingress: every route's path to the in-cluster Traefik gateway, which routes by
    method. Timeouts and body size are lifted for large STOW uploads (ingress-nginx names);
    TLS with the certificate in the Secret ``TLS_SECRET`` (the controller's default one while
    that Secret does not exist)."""
    backend = {"service": {"name": GATEWAY_SERVICE, "port": {"number": GATEWAY_PORT}}}
    paths = [{"path": p, "pathType": t, "backend": backend} for p, t in ingress_paths()]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": NAME,
            "annotations": {
                "nginx.ingress.kubernetes.io/proxy-body-size": "0",
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "600",
                "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
            },
        },
        "spec": {"tls": [{"secretName": TLS_SECRET}], "rules": [{"http": {"paths": paths}}]},
    }


def feed_permissions(stream: str | None = None) -> dict[str, Any]:
    """What a change-feed subscriber may do: read the feed stream through its own push or pull
    consumer, and nothing else (no publishing of ingest or delete commands, no other stream)."""
    stream = stream or str(NatsSettings.model_fields["feed_stream"].default)
    api = "$JS.API"
    return {
        "publish": {
            "allow": [
                f"{api}.INFO",
                f"{api}.STREAM.INFO.{stream}",
                f"{api}.CONSUMER.CREATE.{stream}",
                f"{api}.CONSUMER.CREATE.{stream}.>",
                f"{api}.CONSUMER.DURABLE.CREATE.{stream}.>",
                f"{api}.CONSUMER.INFO.{stream}.>",
                f"{api}.CONSUMER.DELETE.{stream}.>",
                f"{api}.CONSUMER.MSG.NEXT.{stream}.>",
                f"$JS.ACK.{stream}.>",
                f"$JS.FC.{stream}.>",
            ]
        },
        "subscribe": {"allow": ["_INBOX.>"]},
    }


def nats_server_config() -> dict[str, Any]:
    """The NATS of Compose and the dev overlay: the embedded server's settings (the limits the
    tests run with), on every address, with one user for the services and one for feed
    subscribers. Passwords are ``$VARIABLE`` references that nats-server reads from its
    environment, so the file holds no secret."""
    config = nats.settings("0.0.0.0", NATS_PORT, NATS_MONITOR_PORT, Path(NATS_STORE))
    config["server_name"] = NAME
    services, feed = NATS_SERVICES_USER, NATS_FEED_USER
    config["authorization"] = {
        "users": [
            {"user": services, "password": f"${NATS_PASSWORD_VARIABLES[services]}"},
            {
                "user": feed,
                "password": f"${NATS_PASSWORD_VARIABLES[feed]}",
                "permissions": feed_permissions(),
            },
        ]
    }
    return config


def nats_conf() -> str:
    """``nats_server_config`` in nats-server's format: JSON plus unquoted variable references."""
    text = json.dumps(nats_server_config(), indent=2)
    body = re.sub(r'"\$([A-Z_]+)"', r"$\1", text)
    return HEADER.replace("dicomcommon/web/routes.py", "dicomstack/nats.py") + body + "\n"


class _Dumper(yaml.SafeDumper):
    """Spells every repeated value out: no anchors or aliases in files people read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(*documents: Any) -> str:
    """YAML documents with the generated-file header; long rules stay on one line."""
    body = yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=1 << 16)
    return HEADER + body


FORMATS: dict[str, Callable[[], str]] = {
    "traefik-file": lambda: to_yaml(traefik_file()),
    "traefik-static": lambda: to_yaml(traefik_static()),
    "traefik-static-traced-compose": lambda: to_yaml(traefik_static(COMPOSE_COLLECTOR)),
    "traefik-static-traced-cluster": lambda: to_yaml(traefik_static(CLUSTER_COLLECTOR)),
    "ingressroute": lambda: to_yaml(*ingressroute()),
    "ingress": lambda: to_yaml(ingress()),
    "unavailable-static": lambda: to_yaml(unavailable_static()),
    "unavailable-dynamic": lambda: to_yaml(unavailable_dynamic()),
    "helm-values": lambda: to_yaml(helm_values()),
    "nats-conf": nats_conf,
}

# Every committed file generated here, relative to the repository root, and its format.
COMMITTED: dict[str, str] = {
    "deploy/compose/traefik.yml": "traefik-static",
    "deploy/compose/dynamic.yml": "traefik-file",
    "deploy/compose/traefik-tracing.yml": "traefik-static-traced-compose",
    "deploy/k8s/components/gateway-tracing/traefik.yml": "traefik-static-traced-cluster",
    "deploy/k8s/components/gateway/traefik.yml": "traefik-static",
    "deploy/k8s/components/gateway/dynamic.yml": "traefik-file",
    "deploy/k8s/components/gateway/ingress.yaml": "ingress",
    "deploy/k8s/components/ingressroute/ingressroute.yaml": "ingressroute",
    "deploy/k8s/components/ingressroute/unavailable-traefik.yml": "unavailable-static",
    "deploy/k8s/components/ingressroute/unavailable-dynamic.yml": "unavailable-dynamic",
    "deploy/helm/dicomweb/files/routes.yaml": "helm-values",
    "deploy/compose/nats.conf": "nats-conf",
    "deploy/k8s/overlays/dev/nats.conf": "nats-conf",
}


def drifted(root: Path) -> list[str]:
    """Committed files whose content differs from what the routes table generates now."""
    return [
        path
        for path, fmt in COMMITTED.items()
        if not (root / path).is_file() or (root / path).read_text() != FORMATS[fmt]()
    ]


def write(root: Path) -> list[str]:
    """Regenerate every committed file under ``root``; the paths written."""
    for path, fmt in COMMITTED.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(FORMATS[fmt]())
    return list(COMMITTED)
