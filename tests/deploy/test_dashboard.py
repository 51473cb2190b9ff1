"""deploy/grafana/dicomweb.json: a Grafana dashboard whose every query reads only metrics the
services expose (``/metrics`` of a real service app, with the indexer's backlog gauges), by the
labels they carry."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from dicomcommon.web.webapp import create_service_app
from indexer import backlog  # noqa: F401  (importing it registers the backlog gauges)
from tests.deploy.manifests import ROOT

DASHBOARD = ROOT / "deploy/grafana/dicomweb.json"
_SUFFIXES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


async def _exposed() -> str:
    """What a service's /metrics serves after one request (the indexer's adds ``backlog``'s
    gauges, registered when it is imported)."""
    app = create_service_app("qido", [])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        await client.get("/healthz")
        return (await client.get("/metrics")).text


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


async def test_every_query_reads_an_exposed_metric(dashboard: dict[str, Any]) -> None:
    exposed = await _exposed()
    samples = {line.split("{")[0].split(" ")[0] for line in exposed.splitlines() if line[:1] != "#"}
    for query in _queries(dashboard):
        names = set(re.findall(r"\b((?:dicomweb|process)_[a-z_]+)\b", query))
        assert names, query
        for name in names:
            assert name in samples, f"{name} is not exposed ({query})"


async def test_service_label_is_the_one_the_metrics_carry(dashboard: dict[str, Any]) -> None:
    exposed = await _exposed()
    assert 'dicomweb_http_requests_total{method="GET",service="qido",status="200"}' in exposed
    labelled = {line.split("{")[0] for line in exposed.splitlines() if 'service="' in line}
    for query in _queries(dashboard):
        if labelled & set(re.findall(r"\b(dicomweb_[a-z_]+)\b", query)):
            assert 'service=~"$service"' in query, query


async def test_the_backlogs_have_panels(dashboard: dict[str, Any]) -> None:
    queries = " ".join(_queries(dashboard))
    for gauge in ("ingest_oldest_command_age", "feed_relay_lag", "blob_cleanup_pending"):
        assert f"dicomweb_{gauge}" in queries


def test_panels_have_distinct_ids_and_a_layout(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["gridPos"]["w"] > 0 for panel in dashboard["panels"])
    assert dashboard["uid"] and dashboard["title"]
