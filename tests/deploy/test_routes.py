"""Every committed deployment route file is exactly what the routes table generates."""

from __future__ import annotations

import re

import pytest

from dicomcommon.routes import GATEWAY_ROUTES
from dicomstack import deploy
from dicomstack.__main__ import main
from tests.deploy.manifests import ROOT


def test_committed_route_files_match_the_routes_table() -> None:
    drifted = deploy.drifted(ROOT)
    assert not drifted, (
        f"{', '.join(drifted)} differ from dicomcommon/routes.py: "
        "run `python -m dicomstack routes --write .` and commit the result"
    )


@pytest.mark.parametrize("fmt", sorted(deploy.FORMATS))
def test_routes_command_prints_each_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", "--format", fmt]) == 0
    assert capsys.readouterr().out == deploy.FORMATS[fmt]()


def test_ingressroute_has_one_route_per_table_entry_in_order() -> None:
    route, *_ = deploy.ingressroute()
    rules = [r["match"] for r in route["spec"]["routes"]]
    assert rules == [r.traefik_rule() for r in GATEWAY_ROUTES]


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
