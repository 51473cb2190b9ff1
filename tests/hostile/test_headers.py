"""Header abuse through the gateway: very long and very many headers, duplicate and absurd
framing headers, Accept lists with hundreds of ranges or parameters, and transfer-syntax
parameters no one registered. Each answer is a 4xx or a documented success, quickly."""

from __future__ import annotations

import time

import httpx
import pytest
from pydicom.dataset import Dataset

from dicomstack.stack import Stack
from tests import instances
from tests.hostile import attacks

DICOM_ACCEPT = 'multipart/related; type="application/dicom"'


@pytest.fixture(scope="module")
def stored(stack: Stack) -> Dataset:
    ds = instances.fresh()
    response = instances.store(stack.dicomweb_url, instances.to_bytes(ds))
    assert response.status_code == 200, response.text
    return ds


def _instance_url(stack: Stack, ds: Dataset) -> str:
    return (
        f"{stack.dicomweb_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def _raw(
    stack: Stack, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> int:
    status, answer = attacks.raw_exchange(
        stack, attacks.request_head(stack, method, path, headers) + body
    )
    text = answer[:300].decode("latin-1")
    if status != 501:  # the gateway's answer to a transfer coding it lacks (see below)
        attacks.no_server_error(status, text)
    return status


@pytest.mark.parametrize("size", [16 << 10, 256 << 10, 2 << 20])
def test_very_long_header(stack: Stack, size: int) -> None:
    status = _raw(stack, "GET", "/dicom-web/studies?limit=1", [("X-Long", "a" * size)])
    assert status in (200, 204, 400, 431), status


def test_many_headers(stack: Stack) -> None:
    headers = [(f"X-H{i}", "v") for i in range(5_000)]
    status = _raw(stack, "GET", "/dicom-web/studies?limit=1", headers)
    assert status in (200, 204, 400, 431), status


def test_control_characters_in_header_values(stack: Stack) -> None:
    for value in ("a\x00b", "a\x01b", "\x7f", "\u00e9\u00b2\u0663"):
        status = _raw(stack, "GET", "/dicom-web/studies?limit=1", [("Accept", value)])
        assert status in (200, 204, 400, 406), (value, status)


def test_duplicate_content_type_is_refused_or_read_as_one(stack: Stack) -> None:
    """Two Content-Types for one STOW body: refused, or the request read by one of them;
    never a half-stored instance."""
    ds = instances.fresh()
    body = instances.multipart_body([instances.to_bytes(ds)])
    headers = [
        ("Content-Type", "application/dicom"),
        ("Content-Type", instances.MULTIPART),
        ("Content-Length", str(len(body))),
    ]
    status = _raw(stack, "POST", "/dicom-web/studies", headers, body)
    stored = attacks.instances_of_study(stack, ds.StudyInstanceUID)
    assert (status, stored) in ((200, 1), (400, 0), (409, 0), (415, 0)), (status, stored)


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "99999999999999999999999")],
        [("Content-Length", "-1")],
        [("Content-Length", "10"), ("Content-Length", "20")],
        [("Content-Length", "²")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        [("Transfer-Encoding", "gzip, chunked")],
    ],
)
def test_absurd_framing_headers(stack: Stack, headers: list[tuple[str, str]]) -> None:
    """Refused by the gateway; a transfer coding it does not implement is the one documented
    5xx: 501, as RFC 9112 §6.1 asks of a server."""
    ds = instances.fresh()
    framing = [("Content-Type", instances.MULTIPART), *headers]
    status = _raw(stack, "POST", "/dicom-web/studies", framing, b"zz\r\n" + b"x" * 10)
    assert 400 <= status < 500 or status == 0 or (status == 501 and "gzip" in str(headers))
    attacks.nothing_stored(stack, ds.StudyInstanceUID)


def test_bad_chunk_sizes(stack: Stack) -> None:
    headers = [("Content-Type", instances.MULTIPART), ("Transfer-Encoding", "chunked")]
    for chunk in (b"fffffffffffffffffff\r\nx\r\n", b"-5\r\nxxxxx\r\n", b"\xb2\r\nx\r\n"):
        status = _raw(stack, "POST", "/dicom-web/studies", headers, chunk + b"0\r\n\r\n")
        assert 400 <= status < 500 or status == 0, (chunk, status)


def _accept_lists() -> list[str]:
    ranges = ", ".join(f"application/x-{i}; q=0.{i % 10}" for i in range(500))
    parameters = "application/dicom+json" + "".join(f"; p{i}=v" for i in range(2_000))
    quotes = 'application/dicom+json; a="' + "x" * 50_000
    commas = "," * 100_000
    return [ranges, parameters, quotes, commas, "*/*; q=\u00b2", "*/*; q=1e999", "*/*; q=NaN"]


@pytest.mark.parametrize("accept", _accept_lists(), ids=lambda a: a[:24])
def test_accept_abuse_everywhere(stack: Stack, stored: Dataset, accept: str) -> None:
    urls = [
        f"{stack.dicomweb_url}/studies?limit=1",
        _instance_url(stack, stored),
        _instance_url(stack, stored) + "/metadata",
        _instance_url(stack, stored) + "/frames/1",
        _instance_url(stack, stored) + "/rendered",
    ]
    for url in urls:
        started = time.monotonic()
        headers = {"Accept": accept.encode()}
        response = httpx.get(url, headers=headers, timeout=attacks.TIMEOUT)
        attacks.no_server_error(response.status_code, response.text)
        assert response.status_code in (200, 204, 400, 406, 431), (url, response.status_code)
        assert time.monotonic() - started < 10, url
    response = attacks.store(stack, b"", headers={"Accept": accept.encode()})
    attacks.refused(response)


@pytest.mark.parametrize(
    "syntax",
    [
        "garbage",
        "1.2.840.10008.1.2.4.50x",
        '"',
        "1." * 2_000,
        "1.2.840.10008.1.2.1; transfer-syntax=1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.1.99",  # deflated: offered only when the client asks
        "1.2.840.10008.1.2.2",  # big endian, retired
        "\u0661.\u0662",  # Arabic-Indic digits
    ],
)
def test_bad_transfer_syntax_parameters(stack: Stack, stored: Dataset, syntax: str) -> None:
    for url, media in (
        (_instance_url(stack, stored), DICOM_ACCEPT),
        (_instance_url(stack, stored) + "/frames/1", 'multipart/related; type="image/jpeg"'),
        (
            _instance_url(stack, stored) + "/frames/1",
            "multipart/related; type=application/octet-stream",
        ),
    ):
        accept = f"{media}; transfer-syntax={syntax}".encode()
        response = httpx.get(url, headers={"Accept": accept}, timeout=attacks.TIMEOUT)
        attacks.no_server_error(response.status_code, response.text)
        assert response.status_code in (200, 400, 406), (url, syntax, response.status_code)
