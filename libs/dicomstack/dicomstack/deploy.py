"""Deployment files generated from the routes table, so no deployment can drift from the code.

Traefik's file-provider configuration comes from ``gateway.dynamic_config`` and
``gateway.static_config`` (the same functions the local launcher uses), with each service
addressed by its Compose / Kubernetes name. The Kubernetes IngressRoute and Middlewares are the
same routers in Traefik's CRD shape; the plain Ingress sends each route's path prefix to an
in-cluster Traefik gateway, because an Ingress cannot route by method. The Helm chart reads the
same data from ``files/routes.yaml``. ``python -m dicomstack routes --write`` regenerates every
committed file; ``tests/deploy`` fails when one differs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dicomcommon.routes import GATEWAY_ROUTES, SERVICES
from dicomstack.gateway import PUBLIC_ENTRYPOINT, dynamic_config, static_config

SERVICE_PORT = 8000  # every service's container port (DICOMWEB_HTTP_PORT)
GATEWAY_PORT = 8080
GATEWAY_PING_PORT = 8081
GATEWAY_SERVICE = "gateway"
TRAEFIK_DIR = PurePosixPath("/etc/traefik")
NAME = "dicomweb"
# Stands for the Helm release's full name; the chart replaces it when rendering.
HELM_FULLNAME = "__FULLNAME__"
HEADER = (
    "# Generated from libs/dicomcommon/dicomcommon/routes.py by "
    "`python -m dicomstack routes --write`; do not edit.\n"
)
_REGEX_META = frozenset("()[]{}?*+|.\\$^")


def service_urls(prefix: str = "") -> dict[str, list[str]]:
    """One URL per service, by its DNS name (Compose service, Kubernetes Service)."""
    return {s: [f"http://{prefix}{s}:{SERVICE_PORT}"] for s in SERVICES}


def traefik_file(prefix: str = "") -> dict[str, Any]:
    """The gateway's dynamic configuration (file provider), as the local launcher writes it."""
    return dynamic_config(service_urls(prefix))


def traefik_static() -> dict[str, Any]:
    """The gateway's static configuration: public and ping entry points on every address."""
    return static_config("", GATEWAY_PORT, GATEWAY_PING_PORT, Path(TRAEFIK_DIR / "dynamic.yml"))


def _public_routers() -> list[dict[str, Any]]:
    routers = traefik_file()["http"]["routers"].values()
    return [r for r in routers if r["entryPoints"] == [PUBLIC_ENTRYPOINT]]


def helm_values() -> dict[str, Any]:
    """What the chart templates need: routes, middlewares, ingress paths, gateway config."""
    return {
        "routes": [
            {
                "service": r["service"],
                "match": r["rule"],
                "priority": r["priority"],
                "middlewares": list(r.get("middlewares", [])),
            }
            for r in _public_routers()
        ],
        "middlewares": traefik_file()["http"]["middlewares"],
        "ingressPaths": [{"path": p, "pathType": t} for p, t in ingress_paths()],
        "gateway": {"static": traefik_static(), "dynamic": traefik_file(f"{HELM_FULLNAME}-")},
    }


def ingressroute() -> list[dict[str, Any]]:
    """Traefik's IngressRoute (one route per router) and its Middlewares."""
    routes = [
        {
            "kind": "Rule",
            "match": r["rule"],
            "priority": r["priority"],
            "services": [{"name": r["service"], "port": SERVICE_PORT}],
            **(
                {"middlewares": [{"name": f"{NAME}-{m}"} for m in r["middlewares"]]}
                if r.get("middlewares")
                else {}
            ),
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
        for name, spec in traefik_file()["http"]["middlewares"].items()
    ]
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": NAME},
        "spec": {"routes": routes},
    }
    return [route, *middlewares]


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
    method. Timeouts and body size are lifted for large STOW uploads (ingress-nginx names)."""
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
        "spec": {"rules": [{"http": {"paths": paths}}]},
    }


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
    "ingressroute": lambda: to_yaml(*ingressroute()),
    "ingress": lambda: to_yaml(ingress()),
    "helm-values": lambda: to_yaml(helm_values()),
}

# Every committed file generated here, relative to the repository root, and its format.
COMMITTED: dict[str, str] = {
    "deploy/compose/traefik.yml": "traefik-static",
    "deploy/compose/dynamic.yml": "traefik-file",
    "deploy/k8s/components/gateway/traefik.yml": "traefik-static",
    "deploy/k8s/components/gateway/dynamic.yml": "traefik-file",
    "deploy/k8s/components/gateway/ingress.yaml": "ingress",
    "deploy/k8s/components/ingressroute/ingressroute.yaml": "ingressroute",
    "deploy/helm/dicomweb/files/routes.yaml": "helm-values",
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
