"""DICOM audit messages from the running indexer to a real UDP syslog listener: the indexer is
restarted with ``DICOMWEB_AUDIT_SYSLOG_URL`` pointing at it, then without."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import httpx
import pytest

from dicomstack.stack import Stack
from tests import instances

pytestmark = pytest.mark.integration
SYSLOG_URL = "DICOMWEB_AUDIT_SYSLOG_URL"


@pytest.fixture(scope="module")
def listener(stack: Stack) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1)
        stack.restart_with("indexer", {SYSLOG_URL: f"udp://127.0.0.1:{sock.getsockname()[1]}"})
        try:
            yield sock
        finally:
            stack.restart_with("indexer", {SYSLOG_URL: None})


def _message(sock: socket.socket, study: str, action_code: str, seconds: float = 30) -> ET.Element:
    """The first audit message about ``study`` with ``action_code``, checking the syslog
    header of every message about it on the way."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            datagram, _ = sock.recvfrom(65535)
        except TimeoutError:
            continue
        header, _, xml = datagram.partition(b" - \xef\xbb\xbf")
        if study.encode() not in xml:
            continue
        assert header.startswith(b"<85>1 ")  # security facility, notice; RFC 5424 version 1
        root = ET.fromstring(xml)
        identification = root.find("EventIdentification")
        if identification is not None and identification.attrib["EventActionCode"] == action_code:
            return root
    raise AssertionError(f"no {action_code} audit message about {study}")


def test_store_and_retrieve_become_dicom_audit_messages(
    stack: Stack, listener: socket.socket
) -> None:
    ds = instances.fresh()
    study = str(ds.StudyInstanceUID)
    assert instances.store(stack.dicomweb_url, instances.to_bytes(ds)).status_code == 200
    assert (
        httpx.get(f"{stack.dicomweb_url}/studies/{study}/metadata", timeout=30).status_code == 200
    )
    stored = _message(listener, study, "C")
    assert [e.attrib["csd-code"] for e in stored.iter("EventID")] == ["110104"]
    retrieved = _message(listener, study, "R")
    assert [e.attrib["csd-code"] for e in retrieved.iter("EventID")] == ["110104"]
    objects = {
        o.attrib["ParticipantObjectID"]: o.attrib["ParticipantObjectTypeCodeRole"]
        for o in retrieved.iter("ParticipantObjectIdentification")
    }
    assert objects == {str(ds.PatientID): "1", study: "3"}  # the patient, the study
    caller, _archive = retrieved.findall("ActiveParticipant")
    assert caller.attrib["NetworkAccessPointID"] == "127.0.0.1"
    assert caller.attrib["UserIsRequestor"] == "true"
