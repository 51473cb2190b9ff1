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
        # Searches and their counts: ``/studies/count`` is QIDO's, never a study UID for WADO.
        rf"^{_R}/(studies|series|instances|studies/{_UID}/(series|instances)"
        rf"|studies/{_UID}/series/{_UID}/instances)(/count)?/?$",
        300,
        Permission.READ,
    ),
    Route("changefeed", "qido", _READ, rf"^{_R}/(v2/)?changefeed(/.*)?$", 300, Permission.READ),
    # A study's access groups (admins only): above wado-rs, whose pattern also matches it.
    Route(
        "study-access",
        "indexer",
        ("GET", "HEAD", "PUT", PREFLIGHT),
        rf"^{_R}/studies/{_UID}/access/?$",
        400,
        Permission.ADMIN,
    ),
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
