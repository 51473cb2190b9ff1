"""Every path a service serves falls under a routes-table entry that names its permission, so a
new route cannot ship unprotected: the authentication middleware refuses what the table lacks."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.routing import Route as StarletteRoute

import delow.app
import dimse.app
import indexer.app
import qido.app
import stow.app
import wado.app
from delow.settings import Settings as DelowSettings
from dicomcommon.principal import Permission
from dicomcommon.web.routes import GATEWAY_ROUTES, ROUTES, RouteFinder, routes_for
from dimse.settings import Settings as DimseSettings
from indexer.settings import Settings as IndexerSettings
from qido.settings import Settings as QidoSettings
from stow.settings import Settings as StowSettings
from wado.settings import Settings as WadoSettings

APPS = {
    "stow": lambda: stow.app.create_app(StowSettings()),
    "qido": lambda: qido.app.create_app(QidoSettings()),
    "wado": lambda: wado.app.create_app(WadoSettings()),
    "delow": lambda: delow.app.create_app(DelowSettings()),
    "indexer": lambda: indexer.app.create_app(IndexerSettings()),
    "dimse": lambda: dimse.app.create_app(DimseSettings()),
}
# A value for each kind of path parameter, so a concrete path can be matched.
_SAMPLES = {"path": "00420011", "frames": "1,2"}


def _concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, _, convertor = match.group(1).partition(":")
        return _SAMPLES.get(convertor, _SAMPLES.get(name, "1.2.840.10008.1"))

    return re.sub(r"\{([^}]+)\}", value, path)


def _served(app: Starlette) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        assert isinstance(route, StarletteRoute), f"unexpected route kind {route!r}"
        for method in sorted(route.methods or ()):
            found.append((method, _concrete(route.path)))
    return found


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_served_route_has_a_table_entry_with_a_permission(service: str) -> None:
    finder = RouteFinder(routes_for(service))
    served = _served(APPS[service]())
    assert served
    uncovered = [(m, p) for m, p in served if finder.find(m, p) is None]
    assert not uncovered, f"{service} serves routes the routes table does not cover: {uncovered}"
    for method, path in served:
        entry = finder.find(method, path)
        assert entry is not None and isinstance(entry.permission, Permission)


def test_probes_are_public_and_operator_endpoints_need_admin() -> None:
    for service in APPS:
        finder = RouteFinder(routes_for(service))
        for path in ("/healthz", "/readyz", "/metrics"):
            entry = finder.find("GET", path)
            assert entry is not None and entry.permission is Permission.PUBLIC, (service, path)
    sweep = RouteFinder(routes_for("indexer")).find("POST", "/orphans/sweep")
    assert sweep is not None and sweep.permission is Permission.ADMIN


def test_internal_routes_are_not_routed_by_the_gateway() -> None:
    internal = {r.name for r in ROUTES if r.internal}
    assert internal and not internal & {r.name for r in GATEWAY_ROUTES}


def test_patient_data_routes_need_an_identity() -> None:
    """Only probes, the gateway's health report and the viewer's static files are public."""
    public = {r.name for r in ROUTES if r.permission is Permission.PUBLIC}
    assert public == {"health", "viewer", "viewer-files", *(f"{s}-probes" for s in APPS)}


def test_extended_query_tags_and_operations_need_admin() -> None:
    finder = RouteFinder(routes_for("indexer"))
    for method, path in [
        ("POST", "/dicom-web/extendedquerytags"),
        ("GET", "/dicom-web/extendedquerytags"),
        ("GET", "/dicom-web/extendedquerytags/PatientAge"),
        ("PATCH", "/dicom-web/extendedquerytags/00101010"),
        ("DELETE", "/dicom-web/extendedquerytags/00101010"),
        ("GET", "/dicom-web/extendedquerytags/00101010/errors"),
        ("GET", f"/dicom-web/operations/{'a' * 32}"),
    ]:
        entry = finder.find(method, path)
        assert entry is not None and entry.permission is Permission.ADMIN, (method, path)
