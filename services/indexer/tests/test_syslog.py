"""DICOM audit messages (PS3.15 A.5) over syslog (RFC 5424), received by real UDP and TCP
listeners started here."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from pydantic import ValidationError

from dicomcommon.settings import AuditSettings
from dicomcommon.web.audit import Action, AuditEvent, Outcome
from indexer import dicomaudit
from indexer.syslog import SyslogSender, syslog_message

STUDY, SERIES, SOP = "1.2.840.1", "1.2.840.1.2", "1.2.840.1.2.3"


def _event(
    action: Action, path: str = f"/dicom-web/studies/{STUDY}", status: int = 200
) -> AuditEvent:
    return AuditEvent(
        event_id=AuditEvent.new_id(), occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        service="wado", action=action, method="GET", path=path, query="limit=5",
        user_subject="u-123", user_name="Dr Who", client_address="192.0.2.8",
        study_uids=[STUDY], series_uids=[SERIES], instance_uids=[SOP], instance_count=1,
        status=status, outcome=Outcome.SUCCESS if status < 400 else Outcome.FAILURE,
        request_id="rid",
    )  # fmt: skip


def _codes(root: ET.Element, tag: str) -> list[str]:
    return [e.attrib["csd-code"] for e in root.iter(tag)]


@pytest.mark.parametrize(
    ("action", "path", "event_id", "action_code"),
    [
        (Action.SEARCH, "/dicom-web/studies", "110112", "E"),
        (Action.RETRIEVE, f"/dicom-web/studies/{STUDY}", "110104", "R"),
        (Action.STORE, "/dicom-web/studies", "110104", "C"),
        (Action.DELETE, f"/dicom-web/studies/{STUDY}", "110105", "D"),
        (Action.DELETE, f"/dicom-web/studies/{STUDY}/series/{SERIES}", "110103", "D"),
        (Action.FEED_READ, "/dicom-web/changefeed", "110103", "R"),
        (Action.AUDIT_READ, "/dicom-web/audit", "110101", "R"),
        (Action.ASSOCIATE, "MODALITY1 -> DICOMWEB", "110114", "E"),
    ],
)
def test_each_action_has_its_audit_event_id(
    action: Action, path: str, event_id: str, action_code: str
) -> None:
    root = ET.fromstring(dicomaudit.audit_message(_event(action, path), "archive", {}))
    identification = root.find("EventIdentification")
    assert identification is not None
    assert identification.attrib["EventActionCode"] == action_code
    assert identification.attrib["EventOutcomeIndicator"] == "0"
    assert _codes(root, "EventID") == [event_id]


def test_the_message_names_caller_archive_patient_and_study() -> None:
    xml = dicomaudit.audit_message(_event(Action.RETRIEVE), "archive", {STUDY: "PID-7"})
    root = ET.fromstring(xml)
    caller, archive = root.findall("ActiveParticipant")
    assert caller.attrib["UserID"] == "u-123"
    assert caller.attrib["UserName"] == "Dr Who"
    assert caller.attrib["UserIsRequestor"] == "true"
    assert caller.attrib["NetworkAccessPointID"] == "192.0.2.8"
    assert _codes(caller, "RoleIDCode") == ["110152"]  # a retrieve's caller is the destination
    assert archive.attrib["UserIsRequestor"] == "false"
    assert _codes(archive, "RoleIDCode") == ["110153"]
    source = root.find("AuditSourceIdentification")
    assert source is not None and source.attrib["AuditSourceID"] == "archive"
    objects = {
        o.attrib["ParticipantObjectID"]: o for o in root.iter("ParticipantObjectIdentification")
    }
    assert objects["PID-7"].attrib["ParticipantObjectTypeCodeRole"] == "1"  # Patient
    assert _codes(objects[STUDY], "ParticipantObjectIDTypeCode") == ["110180"]


def test_a_search_carries_its_query_and_a_refusal_its_outcome() -> None:
    event = _event(Action.SEARCH, "/dicom-web/studies", status=403)
    root = ET.fromstring(dicomaudit.audit_message(event, "archive", {}))
    identification = root.find("EventIdentification")
    assert identification is not None
    assert identification.attrib["EventOutcomeIndicator"] == "4"
    query = root.find("ParticipantObjectIdentification/ParticipantObjectQuery")
    assert query is not None and query.text is not None
    assert base64.b64decode(query.text) == b"/dicom-web/studies?limit=5"


def _parse(message: bytes) -> tuple[str, ET.Element]:
    """RFC 5424: header fields, ``-`` for no structured data, then BOM + XML."""
    header, _, rest = message.partition(b" - \xef\xbb\xbf")
    return header.decode(), ET.fromstring(rest)


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        yield sock


async def test_a_message_arrives_as_one_udp_datagram(udp_listener: socket.socket) -> None:
    port = udp_listener.getsockname()[1]
    event = _event(Action.RETRIEVE)
    xml = dicomaudit.audit_message(event, "archive", {})
    await SyslogSender(f"udp://127.0.0.1:{port}").send(
        syslog_message(xml, event.occurred_at, "archive")
    )
    datagram, _ = await asyncio.to_thread(udp_listener.recvfrom, 65535)
    header, root = _parse(datagram)
    pri_version, timestamp, _host, app, procid, msgid = header.split(" ")
    assert pri_version == "<85>1"  # facility 10 (security), severity 5 (notice), version 1
    assert timestamp == "2026-01-02T03:04:05+00:00"
    assert (app, procid, msgid) == ("archive", "-", "IHE+DICOM")
    assert root.tag == "AuditMessage"


async def test_tcp_frames_each_message_by_its_octet_count() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            length = int((await reader.readuntil(b" ")).strip())
            await received.put(await reader.readexactly(length))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = SyslogSender(f"tcp://127.0.0.1:{port}")
    try:
        for action in (Action.STORE, Action.DELETE):
            event = _event(action)
            xml = dicomaudit.audit_message(event, "archive", {})
            await sender.send(syslog_message(xml, event.occurred_at, "archive"))
        messages = [await asyncio.wait_for(received.get(), 10) for _ in range(2)]
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()
    assert [_codes(_parse(m)[1], "EventID") for m in messages] == [["110104"], ["110105"]]


@pytest.mark.parametrize("url", ["http://host:514", "udp://", "syslog.example:514"])
def test_a_bad_syslog_url_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValidationError, match="udp://, tcp:// or tls://"):
        AuditSettings(syslog_url=url)
