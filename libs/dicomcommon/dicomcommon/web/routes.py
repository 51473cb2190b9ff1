"""The one routes table: which service answers which path and method, and the permission a
caller needs for it.

Its gateway routes generate the local Traefik configuration, the Compose and Kubernetes routes,
so the gateway can never drift from the code. Services keep the public path prefix
(``/dicom-web``), so a request means the same thing with or without the gateway. Internal routes
(probes, operators' endpoints on a service's own port) are in the table too, so that every
service's authentication middleware finds the permission of every path it serves; they are
never routed by the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dicomcommon.principal import Permission

DICOMWEB_ROOT = "/dicom-web"

SERVICES = ("stow", "qido", "wado", "delow", "indexer")  # the HTTP services behind the gateway
# DIMSE speaks DICOM over TCP on its own port (no gateway route); over HTTP it serves only its
# probes and metrics. The launcher starts every one of these.
DIMSE_SERVICE = "dimse"
ALL_SERVICES = (*SERVICES, DIMSE_SERVICE)


@dataclass(frozen=True)
class Route:
    """Requests whose method and path match go to ``service`` and need ``permission``."""

    name: str
    service: str
    methods: tuple[str, ...]
    path_regex: str
    priority: int
    permission: Permission  # what a caller's token must grant (``public``: no token needed)
    rewrite_path: str | None = None  # the path the service serves, when it differs
    internal: bool = False  # served on the service's own port only, never through the gateway

    def traefik_rule(self) -> str:
        methods = " || ".join(f"Method(`{m}`)" for m in self.methods)
        return f"PathRegexp(`{self.path_regex}`) && ({methods})"


# Microsoft's DICOM server versions its API in the path (``/v1/studies``, ``/v2/changefeed``):
# its clients, given ``…/dicom-web`` as their base, call ``/dicom-web/v1/…``. Every version
# reaches the same handlers (``unversioned``), except the change feed, whose v2 differs.
API_VERSIONS = ("v1", "v1.0-prerelease", "v2")
_VERSIONED = re.compile(
    rf"^{DICOMWEB_ROOT}/({'|'.join(re.escape(v) for v in API_VERSIONS)})(?=/)", re.ASCII
)
_R = DICOMWEB_ROOT
# An optional version segment after the root, in every public route's pattern.
_V = f"(({'|'.join(re.escape(v) for v in API_VERSIONS)})/)?"
_UID = r"[^/]+"
# Browsers send a CORS pre-flight ``OPTIONS`` before most cross-origin calls (a viewer's Accept
# or DELETE); every public route takes it to its service, whose CORS middleware answers it.
PREFLIGHT = "OPTIONS"
_READ = ("GET", "HEAD", PREFLIGHT)

ROUTES: tuple[Route, ...] = (
    Route(
        "stow",
        "stow",
        ("POST", PREFLIGHT),
        rf"^{_R}/{_V}studies(/{_UID})?/?$",
        300,
        Permission.WRITE,
    ),
    Route(
        "qido",
        "qido",
        _READ,
        # Searches and their counts: ``/studies/count`` is QIDO's, never a study UID for WADO.
        rf"^{_R}/{_V}(studies|series|instances|studies/{_UID}/(series|instances)"
        rf"|studies/{_UID}/series/{_UID}/instances)(/count)?/?$",
        300,
        Permission.READ,
    ),
    Route("changefeed", "qido", _READ, rf"^{_R}/{_V}changefeed(/.*)?$", 300, Permission.READ),
    # A study's access groups (admins only): above wado-rs, whose pattern also matches it.
    Route(
        "study-access",
        "indexer",
        ("GET", "HEAD", "PUT", PREFLIGHT),
        rf"^{_R}/{_V}studies/{_UID}/access/?$",
        400,
        Permission.ADMIN,
    ),
    # Extended query tags and their reindex operations (admins only), as Microsoft's DICOM
    # server serves them; the indexer owns the schema they change.
    Route(
        "extended-query-tags",
        "indexer",
        ("GET", "HEAD", "POST", "PATCH", "DELETE", PREFLIGHT),
        rf"^{_R}/{_V}extendedquerytags(/[^/]+(/errors)?)?/?$",
        300,
        Permission.ADMIN,
    ),
    Route("operations", "indexer", _READ, rf"^{_R}/{_V}operations/[^/]+/?$", 300, Permission.ADMIN),
    # The audit trail (privacy officers, operators): served by QIDO, which reads PostgreSQL.
    Route("audit", "qido", _READ, rf"^{_R}/{_V}audit/?$", 300, Permission.ADMIN),
    Route("wado-rs", "wado", _READ, rf"^{_R}/{_V}studies/{_UID}(/.*)?$", 200, Permission.READ),
    Route("wado-uri", "wado", _READ, r"^/wado/?$", 200, Permission.READ),
    Route(
        "delete",
        "delow",
        ("DELETE", PREFLIGHT),
        rf"^{_R}/{_V}studies/{_UID}(/.*)?$",
        200,
        Permission.DELETE,
    ),
    # The web viewer (OHIF): static files without patient data, so public; the data it shows
    # comes through the routes above, each with its own permission. WADO serves them (see
    # ``wado.viewer`` for why); two routes so the Ingress path derived from them is ``/viewer``.
    Route("viewer", "wado", _READ, r"^/viewer/?$", 100, Permission.PUBLIC),
    Route("viewer-files", "wado", _READ, r"^/viewer/.+$", 100, Permission.PUBLIC),
    # The gateway's health reports every part: the indexer aggregates it at /stack/health.
    Route(
        "health",
        "indexer",
        _READ,
        r"^/healthz$",
        100,
        Permission.PUBLIC,
        rewrite_path="/stack/health",
    ),
    # Operators' trigger on the indexer's own port (``POST /orphans/sweep?older_than=SECONDS``).
    Route(
        "orphans-sweep",
        "indexer",
        ("POST",),
        r"^/orphans/sweep$",
        100,
        Permission.ADMIN,
        internal=True,
    ),
    # Commands the index could not apply, on the indexer's own port: list and retry them.
    Route(
        "parked-commands",
        "indexer",
        ("GET", "HEAD", "POST"),
        r"^/parked(/[^/]+/retry)?$",
        100,
        Permission.ADMIN,
        internal=True,
    ),
    # Every service's liveness, readiness and metrics: polled by the gateway, Kubernetes and
    # Prometheus without a token; they carry no patient data.
    *(
        Route(
            f"{service}-probes",
            service,
            ("GET", "HEAD"),
            r"^/(healthz|readyz|readyz/self|metrics)$",
            100,
            Permission.PUBLIC,
            internal=True,
        )
        for service in ALL_SERVICES
    ),
)

# What the gateway routes: everything but the internal routes.
GATEWAY_ROUTES: tuple[Route, ...] = tuple(r for r in ROUTES if not r.internal)


def routes_for(service: str) -> tuple[Route, ...]:
    return tuple(r for r in ROUTES if r.service == service)


def unversioned(path: str) -> str:
    """The path the handlers serve for a versioned one: ``/dicom-web/v1/studies`` is
    ``/dicom-web/studies``; ``/dicom-web/v2/changefeed`` stays (Microsoft's v2 feed pages by
    time, and its handler is QIDO's own route)."""
    found = _VERSIONED.match(path)
    if found is None:
        return path
    rest = path[found.end() :]
    if found.group(1) == "v2" and (rest + "/").startswith("/changefeed/"):
        return path
    return DICOMWEB_ROOT + rest


class RouteFinder:
    """The table entry a service's request falls under (services see ``rewrite_path`` where the
    gateway rewrites); None when the table has none, which the middleware refuses."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        ordered = sorted(routes, key=lambda r: -r.priority)
        self._patterns = [
            (r, re.compile(f"^{re.escape(r.rewrite_path)}$" if r.rewrite_path else r.path_regex))
            for r in ordered
        ]

    def find(self, method: str, path: str) -> Route | None:
        for route, pattern in self._patterns:
            if method in route.methods and pattern.match(path):
                return route
        return None
