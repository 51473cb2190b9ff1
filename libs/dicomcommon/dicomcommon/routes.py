"""The one routes table: which service answers which public path and method.

It generates the local Traefik configuration, and later the Compose labels and Kubernetes
routes, so the gateway can never drift from the code. Services keep the public path prefix
(``/dicom-web``), so a request means the same thing with or without the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomcommon.principal import Permission

DICOMWEB_ROOT = "/dicom-web"

SERVICES = ("stow", "qido", "wado", "delow", "indexer")


@dataclass(frozen=True)
class Route:
    """A gateway route: requests whose method and path match go to ``service``."""

    name: str
    service: str
    methods: tuple[str, ...]
    path_regex: str
    priority: int
    permission: Permission  # what a caller's token must grant (``public``: no token needed)
    rewrite_path: str | None = None  # the path the service serves, when it differs

    def traefik_rule(self) -> str:
        methods = " || ".join(f"Method(`{m}`)" for m in self.methods)
        return f"PathRegexp(`{self.path_regex}`) && ({methods})"


_R = DICOMWEB_ROOT
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
        rf"^{_R}/studies(/{_UID})?/?$",
        300,
        Permission.WRITE,
    ),
    Route(
        "qido",
        "qido",
        _READ,
        rf"^{_R}/(studies|series|instances|studies/{_UID}/(series|instances)"
        rf"|studies/{_UID}/series/{_UID}/instances)/?$",
        300,
        Permission.READ,
    ),
    Route("changefeed", "qido", _READ, rf"^{_R}/(v2/)?changefeed(/.*)?$", 300, Permission.READ),
    Route("wado-rs", "wado", _READ, rf"^{_R}/studies/{_UID}(/.*)?$", 200, Permission.READ),
    Route("wado-uri", "wado", _READ, r"^/wado/?$", 200, Permission.READ),
    Route(
        "delete",
        "delow",
        ("DELETE", PREFLIGHT),
        rf"^{_R}/studies/{_UID}(/.*)?$",
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
)


def routes_for(service: str) -> tuple[Route, ...]:
    return tuple(r for r in ROUTES if r.service == service)
