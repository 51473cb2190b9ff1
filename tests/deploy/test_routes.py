"""Every committed deployment route file is exactly what the routes table generates."""

from __future__ import annotations

import re

import jsonschema
import pytest

from dicomcommon.web.routes import GATEWAY_ROUTES, unversioned
from dicomstack import deploy
from dicomstack.__main__ import main
from tests.deploy.manifests import ROOT, validate_object


def test_committed_route_files_match_the_routes_table() -> None:
    drifted = deploy.drifted(ROOT)
    assert not drifted, (
        f"{', '.join(drifted)} differ from dicomcommon/web/routes.py: "
        "run `python -m dicomstack routes --write .` and commit the result"
    )


@pytest.mark.parametrize("fmt", sorted(deploy.FORMATS))
def test_routes_command_prints_each_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "--format", fmt]) == 0
    assert capsys.readouterr().out == deploy.FORMATS[fmt]()


def test_ingressroute_has_one_route_per_table_entry_in_order() -> None:
    route, *_ = deploy.ingressroute("pacs.example.org")
    rules = [r["match"] for r in route["spec"]["routes"]]
    assert rules == [f"Host(`pacs.example.org`) && ({r.traefik_rule()})" for r in GATEWAY_ROUTES]


def test_ingress_paths_cover_every_route() -> None:
    """A request any route accepts is sent to the gateway by some Ingress path."""
    paths = deploy.ingress_paths()
    examples = {r.name: re.sub(r"\[\^/\]\+", "x", r.path_regex) for r in GATEWAY_ROUTES}
    for name, example in examples.items():
        literal = re.split(r"[()?*$]", example.removeprefix("^"))[0].rstrip("/")
        covered = [
            p
            for p, kind in paths
            if (kind == "Exact" and literal == p)
            or (kind == "Prefix" and (literal + "/").startswith(p.rstrip("/") + "/"))
        ]
        assert covered, f"route {name} ({literal}) has no Ingress path"


def test_traefik_schemas_refuse_unknown_fields() -> None:
    """The vendored CRD schemas are strict: a typo in a route is an error, not ignored."""
    route, *_ = deploy.ingressroute()
    validate_object(route)
    route["spec"]["routes"][0]["priorty"] = 1
    with pytest.raises(jsonschema.ValidationError, match="priorty"):
        validate_object(route)


def _service_for(method: str, path: str) -> str:
    """The service the gateway picks: the highest-priority route whose rule matches."""
    matching = [r for r in GATEWAY_ROUTES if method in r.methods and re.search(r.path_regex, path)]
    return max(matching, key=lambda r: r.priority).service


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/dicom-web/studies/count", "qido"),
        ("/dicom-web/series/count", "qido"),
        ("/dicom-web/instances/count", "qido"),
        ("/dicom-web/studies/1.2.3/series/count", "qido"),
        ("/dicom-web/studies/1.2.3/instances/count", "qido"),
        ("/dicom-web/studies/1.2.3/series/4.5/instances/count", "qido"),
        ("/dicom-web/studies/1.2.3", "wado"),
        ("/dicom-web/studies/1.2.3/series/4.5", "wado"),
        ("/dicom-web/studies/1.2.3/series/4.5/instances/6.7", "wado"),
    ],
)
def test_counts_go_to_qido_and_retrieves_to_wado(path: str, service: str) -> None:
    assert _service_for("GET", path) == service


@pytest.mark.parametrize(
    ("method", "path", "service"),
    [
        ("GET", "/dicom-web/v1/studies", "qido"),
        ("GET", "/dicom-web/v1.0-prerelease/series/count", "qido"),
        ("GET", "/dicom-web/v2/studies/1.2.3/series/4.5/instances/6.7/metadata", "wado"),
        ("POST", "/dicom-web/v1/studies", "stow"),
        ("DELETE", "/dicom-web/v1/studies/1.2.3", "delow"),
        ("POST", "/dicom-web/v1/extendedquerytags", "indexer"),
        ("GET", "/dicom-web/v2/extendedquerytags/00101010/errors", "indexer"),
        ("GET", "/dicom-web/v1/operations/abc", "indexer"),
        ("GET", "/dicom-web/v1/changefeed", "qido"),
        ("GET", "/dicom-web/v2/changefeed", "qido"),
    ],
)
def test_microsofts_versioned_paths_reach_the_same_services(
    method: str, path: str, service: str
) -> None:
    assert _service_for(method, path) == service
    assert _service_for(method, unversioned(path)) == service


@pytest.mark.parametrize(
    ("path", "served"),
    [
        ("/dicom-web/v1/studies", "/dicom-web/studies"),
        ("/dicom-web/v1.0-prerelease/extendedquerytags/x", "/dicom-web/extendedquerytags/x"),
        ("/dicom-web/v2/studies/1.2/series", "/dicom-web/studies/1.2/series"),
        ("/dicom-web/v1/changefeed", "/dicom-web/changefeed"),
        ("/dicom-web/v2/changefeed/latest", "/dicom-web/v2/changefeed/latest"),  # its own API
        ("/dicom-web/v3/studies", "/dicom-web/v3/studies"),  # no such version
        ("/dicom-web/studies/v1", "/dicom-web/studies/v1"),  # a study UID, not a version
        ("/dicom-web/v1", "/dicom-web/v1"),
    ],
)
def test_the_version_segment_is_cut_before_routing(path: str, served: str) -> None:
    assert unversioned(path) == served
