"""STOW-RS bodies built to break the multipart reader: each is a 4xx (or a STOW response whose
every instance failed), stores nothing, and keeps the reader's buffers bounded."""

from __future__ import annotations

import socket
import time
import urllib.parse

import pytest

from dicomstack.stack import Stack
from tests import instances
from tests.hostile import attacks

B = instances.BOUNDARY
FAILED = "00081198"


def _fresh() -> tuple[str, bytes]:
    ds = instances.fresh()
    return ds.StudyInstanceUID, instances.to_bytes(ds)


def _opening(boundary: str = B) -> bytes:
    return f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/related; type="application/dicom"',  # no boundary
        'multipart/related; type="application/dicom"; boundary=',
        'multipart/related; type="application/dicom"; boundary=""',
        f'multipart/related; type="application/dicom"; boundary={"b" * 5000}',
        'multipart/related; type="application/dicom"; boundary="unclosed',
        'multipart/related; type="application/x-not-dicom"; boundary=' + B,
        'multipart/related; type="application/dicom+json+xml"; boundary=' + B,
        "multipart/related; type; boundary; =; ;;;",
        "multipart/mixed; boundary=" + B,
        "multipart/; boundary=" + B,
        "application/dicom; boundary=" + B + "; type=multipart/related",
        "text/plain",
        "",
    ],
)
def test_bad_content_type_is_refused_and_stores_nothing(stack: Stack, content_type: str) -> None:
    study, data = _fresh()
    body = instances.multipart_body([data])
    response = attacks.store(stack, body, content_type)
    if content_type.startswith("application/dicom"):
        # A single Part 10 body: the multipart framing is then the file's damage (0xC000).
        attacks.refused(response, 409)
    else:
        attacks.refused(response, 400, 415)
    attacks.nothing_stored(stack, study)


def test_boundary_line_padded_without_end_is_refused(stack: Stack) -> None:
    """Spaces after a boundary line and never a CRLF: refused once past the header limit."""
    body = f"--{B}".encode() + b" " * (4 << 20)
    attacks.refused(attacks.store(stack, body), 400)


def test_giant_part_headers_are_refused(stack: Stack) -> None:
    study, data = _fresh()
    header = b"X-Padding: " + b"a" * (1 << 20) + b"\r\n"
    body = f"--{B}\r\nContent-Type: application/dicom\r\n".encode() + header + b"\r\n" + data
    response = attacks.refused(attacks.store(stack, body + f"\r\n--{B}--\r\n".encode()), 400)
    assert "header" in response.text
    attacks.nothing_stored(stack, study)


def test_many_small_part_headers_are_refused(stack: Stack) -> None:
    study, data = _fresh()
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(20_000))
    body = f"--{B}\r\nContent-Type: application/dicom\r\n".encode() + headers + b"\r\n" + data
    attacks.refused(attacks.store(stack, body + f"\r\n--{B}--\r\n".encode()), 400)
    attacks.nothing_stored(stack, study)


def test_thousands_of_tiny_parts_each_fail_alone(stack: Stack) -> None:
    """Every tiny part is its own failure (0xC000) in a 409 STOW response."""
    count = 2_000
    body = instances.multipart_body([b"x"] * count)
    response = attacks.refused(attacks.store(stack, body), 409)
    assert len(response.json()[FAILED]["Value"]) == count


def test_empty_parts_and_parts_without_headers_fail(stack: Stack) -> None:
    body = f"--{B}\r\n\r\n\r\n--{B}\r\n\r\n\r\n--{B}--\r\n".encode()
    response = attacks.refused(attacks.store(stack, body), 409)
    assert len(response.json()[FAILED]["Value"]) == 2


def test_nested_multipart_is_not_unwrapped(stack: Stack) -> None:
    """A part that is itself a multipart body holding a valid instance fails; the inner
    instance is never stored."""
    study, data = _fresh()
    inner = instances.multipart_body([data], boundary="inner-boundary")
    part = (
        f'--{B}\r\nContent-Type: multipart/related; type="application/dicom"; '
        "boundary=inner-boundary\r\n\r\n"
    ).encode() + inner
    attacks.refused(attacks.store(stack, part + f"\r\n--{B}--\r\n".encode()), 409)
    attacks.nothing_stored(stack, study)


@pytest.mark.parametrize("cut", [10, 200, 1000])
def test_body_ending_inside_a_part_stores_nothing(stack: Stack, cut: int) -> None:
    """The body stops before the part's end and before any closing boundary."""
    study, data = _fresh()
    body = _opening() + data[:cut]
    attacks.refused(attacks.store(stack, body), 400)
    attacks.nothing_stored(stack, study)


def test_body_without_any_boundary_is_refused(stack: Stack) -> None:
    study, data = _fresh()
    attacks.refused(attacks.store(stack, data), 400)
    attacks.nothing_stored(stack, study)


def test_delimiter_lookalikes_inside_a_part_do_not_split_it(stack: Stack) -> None:
    """Bytes that look like the delimiter but are followed by other bytes are content."""
    study, data = _fresh()
    fake = f"\r\n--{B}X\r\n--{B}-\r\n--{B}".encode()
    body = _opening() + fake + data + f"\r\n--{B}--\r\n".encode()
    attacks.refused(attacks.store(stack, body), 409)
    attacks.nothing_stored(stack, study)


def test_client_gone_mid_body_stores_nothing(stack: Stack) -> None:
    """A client that announces a large body, sends part of an instance and disconnects."""
    study, data = _fresh()
    body = _opening() + data[: len(data) // 2]
    head = attacks.request_head(
        stack,
        "POST",
        "/dicom-web/studies",
        [("Content-Type", instances.MULTIPART), ("Content-Length", str(len(data) * 4))],
    )
    url = urllib.parse.urlsplit(stack.gateway_url)
    with socket.create_connection((url.hostname, url.port or 80), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(0.5)
    time.sleep(1)
    attacks.nothing_stored(stack, study)
