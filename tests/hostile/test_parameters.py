"""Control characters, non-ASCII digits, absurd numbers and repeats in every query parameter
and path parameter of every QIDO, WADO, feed and audit route: each answer is a 4xx or a
documented success, never a 5xx. The parameter lists come from the parsers' own tables where
they have one (QIDO's options and attribute levels); a test checks that every GET route of the
gateway's routes table has an entry here."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from pydicom.dataset import Dataset

from dicomcommon.dicom import dicomjson
from dicomcommon.search import query
from dicomcommon.web.routes import GATEWAY_ROUTES
from dicomstack.stack import Stack
from tests import instances
from tests.hostile import attacks

HOSTILE_VALUES = (
    "\u00b2",  # superscript two: str.isdigit() says yes
    "\u0663",  # Arabic-Indic three
    "\uff11\uff12",  # fullwidth one two
    "\U0001d7d9",  # mathematical double-struck one
    "\x00",
    "1\x00",
    "\x1f\x7f",
    "\u2028",
    "-1",
    "99999999999999999999999999",
    "1e999",
    "NaN",
    "-inf",
    " ",
    "\\",
    "'\";--",
    "x" * 10_000,
)
QIDO_SEARCHES = ("studies", "series", "instances")
# Attributes matched at every level, by keyword, by tag, in a sequence, and one undeclared.
QIDO_KEYS = sorted(
    {
        *dicomjson.STUDY_LEVEL_KEYWORDS,
        *dicomjson.SERIES_LEVEL_KEYWORDS,
        *dicomjson.INSTANCE_SUMMARY_KEYWORDS,
        "00100010",
        "RequestAttributesSequence.ScheduledProcedureStepID",
        "AcquisitionDateTime",
        "SliceThickness",
        "StationAETitle",
    }
)


def _one_key_per_matching_rule(keys: list[str]) -> list[str]:
    """The first key of each VR (the matching type follows the VR) and every sequence path."""
    chosen: dict[str, str] = {}
    for key in keys:
        attribute = dicomjson.lookup(key.split(".")[-1])
        assert attribute is not None, key
        chosen.setdefault(key if "." in key else attribute.vr, key)
    return sorted(chosen.values())


QIDO_MATCHING_KEYS = _one_key_per_matching_rule(QIDO_KEYS)
QIDO_OPTIONS = sorted({*query._OPTIONS, *query.TRANSPORT_PARAMETERS})
RENDER_PARAMETERS = ("window", "viewport", "quality", "accept", "charset")
FEED_PARAMETERS = {
    "changefeed": ("offset", "limit", "includemetadata"),
    "v2/changefeed": ("startTime", "endTime", "offset", "limit", "includeMetadata"),
    "changefeed/latest": ("includemetadata",),
}
AUDIT_PARAMETERS = ("user", "study", "action", "from", "to", "limit", "offset")
WADO_URI_PARAMETERS = (
    "requestType", "studyUID", "seriesUID", "objectUID", "contentType", "transferSyntax",
    "anonymize", "charset", "frameNumber", "rows", "columns", "region", "windowCenter",
    "windowWidth", "imageQuality",
)  # fmt: skip
# The routes table's names this module attacks (see the coverage test).
COVERED = {
    *("qido", "changefeed", "audit", "wado-rs", "wado-uri", "health", "study-access"),
    *("extended-query-tags", "operations"),
}
NOT_ATTACKED = {"viewer", "viewer-files"}  # static files, no parameters read


@pytest.fixture(scope="module")
def stored(stack: Stack) -> Dataset:
    """One CT instance for WADO's routes to find."""
    ds = instances.fresh()
    response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
    assert response.status_code == 200, response.text
    return ds


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=attacks.TIMEOUT) as session:
        yield session


def _attack(client: httpx.Client, url: str, names: tuple[str, ...] | list[str]) -> None:
    """Each name with each hostile value (alone, the others absent); collects every 5xx."""
    failures = []
    for name in names:
        for value in HOSTILE_VALUES:
            response = client.get(url, params={name: value})
            if response.status_code >= 500 and response.status_code != 503:
                failures.append((name, value[:20], response.status_code, response.text[:200]))
    assert not failures, failures


def _instance_path(ds: Dataset) -> str:
    return (
        f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    )


def test_every_gateway_read_route_is_attacked() -> None:
    reading = {r.name for r in GATEWAY_ROUTES if "GET" in r.methods}
    assert reading - NOT_ATTACKED <= COVERED, reading - NOT_ATTACKED - COVERED


@pytest.mark.parametrize("search", QIDO_SEARCHES)
def test_qido_options_with_hostile_values(stack: Stack, client: httpx.Client, search: str) -> None:
    _attack(client, f"{stack.dicomweb_url}/{search}", QIDO_OPTIONS)


def test_qido_counts_and_scoped_searches_with_hostile_options(
    stack: Stack, client: httpx.Client, stored: Dataset
) -> None:
    _attack(client, f"{stack.dicomweb_url}/instances/count", QIDO_OPTIONS)
    scoped = f"{stack.dicomweb_url}/studies/{stored.StudyInstanceUID}/series"
    _attack(client, scoped, QIDO_OPTIONS)


def test_qido_matching_keys_with_hostile_values(stack: Stack, client: httpx.Client) -> None:
    _attack(client, f"{stack.dicomweb_url}/instances", QIDO_MATCHING_KEYS)


def test_qido_hostile_keys(stack: Stack, client: httpx.Client) -> None:
    """The parameter's name itself is the attack."""
    failures = []
    for name in HOSTILE_VALUES:
        response = client.get(f"{stack.dicomweb_url}/studies", params={name: "1"})
        if response.status_code >= 500:
            failures.append((name[:20], response.status_code, response.text[:200]))
    assert not failures, failures


@pytest.mark.parametrize("resource", ["", "/metadata", "/rendered", "/thumbnail"])
def test_wado_parameters_with_hostile_values(
    stack: Stack, client: httpx.Client, stored: Dataset, resource: str
) -> None:
    url = f"{stack.dicomweb_url}/{_instance_path(stored)}{resource}"
    _attack(client, url, RENDER_PARAMETERS)


def test_wado_frames_and_bulkdata_parameters(
    stack: Stack, client: httpx.Client, stored: Dataset
) -> None:
    base = f"{stack.dicomweb_url}/{_instance_path(stored)}"
    _attack(client, f"{base}/frames/1", RENDER_PARAMETERS)
    _attack(client, f"{base}/frames/1/rendered", RENDER_PARAMETERS)
    _attack(client, f"{base}/bulkdata/7FE00010", RENDER_PARAMETERS)


def test_hostile_path_parameters(stack: Stack, client: httpx.Client, stored: Dataset) -> None:
    """The same values as path segments: UIDs, frame numbers, bulk data paths."""
    base = f"{stack.dicomweb_url}/{_instance_path(stored)}"
    failures = []
    for value in HOSTILE_VALUES:
        segment = urllib.parse.quote(value, safe="")
        for url in (
            f"{stack.dicomweb_url}/studies/{segment}",
            f"{stack.dicomweb_url}/studies/{segment}/series",
            f"{stack.dicomweb_url}/studies/{stored.StudyInstanceUID}/series/{segment}/metadata",
            f"{base}/frames/{segment}",
            f"{base}/frames/1,{segment}/rendered",
            f"{base}/bulkdata/{segment}",
            f"{stack.dicomweb_url}/studies/{segment}/access",
            f"{stack.dicomweb_url}/extendedquerytags/{segment}",
            f"{stack.dicomweb_url}/extendedquerytags/{segment}/errors",
            f"{stack.dicomweb_url}/operations/{segment}",
        ):
            response = client.get(url)
            if response.status_code >= 500 and response.status_code != 503:
                failures.append((url[-40:], response.status_code, response.text[:200]))
    assert not failures, failures


def test_wado_uri_parameters_with_hostile_values(
    stack: Stack, client: httpx.Client, stored: Dataset
) -> None:
    valid = {
        "requestType": "WADO",
        "studyUID": stored.StudyInstanceUID,
        "seriesUID": stored.SeriesInstanceUID,
        "objectUID": stored.SOPInstanceUID,
        "contentType": "image/jpeg",
    }
    failures = []
    for name in WADO_URI_PARAMETERS:
        for value in HOSTILE_VALUES:
            response = client.get(f"{stack.gateway_url}/wado", params={**valid, name: value})
            if response.status_code >= 500 and response.status_code != 503:
                failures.append((name, value[:20], response.status_code, response.text[:200]))
    assert not failures, failures


@pytest.mark.parametrize("path", sorted(FEED_PARAMETERS))
def test_feed_parameters_with_hostile_values(stack: Stack, client: httpx.Client, path: str) -> None:
    _attack(client, f"{stack.dicomweb_url}/{path}", FEED_PARAMETERS[path])


def test_audit_parameters_with_hostile_values(stack: Stack, client: httpx.Client) -> None:
    _attack(client, f"{stack.dicomweb_url}/audit", AUDIT_PARAMETERS)


def test_extended_query_tag_lists_with_hostile_values(stack: Stack, client: httpx.Client) -> None:
    _attack(client, f"{stack.dicomweb_url}/extendedquerytags", ("limit", "offset"))
    _attack(client, f"{stack.dicomweb_url}/extendedquerytags/00101010/errors", ("limit", "offset"))


def test_health_ignores_hostile_parameters(stack: Stack, client: httpx.Client) -> None:
    _attack(client, f"{stack.gateway_url}/healthz", ("verbose", "x"))


def test_frame_list_of_a_hundred_thousand_numbers(stack: Stack, stored: Dataset) -> None:
    frames = ",".join("1" for _ in range(100_000))
    path = urllib.parse.urlsplit(f"{stack.dicomweb_url}/{_instance_path(stored)}").path
    assert 400 <= attacks.get_raw(stack, f"{path}/frames/{frames}") < 500


@pytest.mark.parametrize("frames", ["1-100000", "1-", "0", "100000000000", "1,,2", ","])
def test_frame_ranges_and_absurd_numbers(
    stack: Stack, client: httpx.Client, stored: Dataset, frames: str
) -> None:
    url = f"{stack.dicomweb_url}/{_instance_path(stored)}/frames/{frames}"
    attacks.refused(client.get(url))


@pytest.mark.parametrize(
    "header", ["bytes=0-99999999999999999999999", "bytes=-0", "bytes=5-1", "bytes=\u00b2-\u0663"]
)
def test_absurd_byte_ranges(
    stack: Stack, client: httpx.Client, stored: Dataset, header: str
) -> None:
    url = f"{stack.dicomweb_url}/{_instance_path(stored)}/bulkdata/7FE00010"
    response = client.get(url, headers={"Range": header.encode()})
    attacks.no_server_error(response.status_code, response.text)
    assert response.status_code in (200, 206, 416), response.status_code


def test_repeated_parameters(stack: Stack) -> None:
    """Thousands of repeats of one option, of includefield, and of a matching key."""
    for name, value in (("limit", "1"), ("includefield", "all"), ("PatientID", "x")):
        query = urllib.parse.urlencode([(name, value)] * 5_000)
        status = attacks.get_raw(stack, f"/dicom-web/studies?{query}")
        assert status in (200, 204, 400, 414, 431), (name, status)
