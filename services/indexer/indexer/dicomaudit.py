"""An ``AuditEvent`` as a DICOM Audit Message (PS3.15 Annex A.5), the XML that IHE ATNA audit
repositories receive over syslog.

Each action maps to an Audit Event ID of CID 400 (A.5.3): a search is a Query (110112), a
retrieve of instances a DICOM Instances Transferred (110104, read), a store the same with
Create, a study delete a DICOM Study Deleted (110105), other deletes and change-feed reads
DICOM Instances Accessed (110103), a read of the audit log Audit Log Used (110101), a DIMSE
association User Authentication (110114). The caller
and this archive are the two Active Participants (RoleIDCode Source 110153 / Destination
110152 by the direction data flows); each study touched, and its patient when the index still
knows it, is a Participant Object.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from dicomcommon.web.audit import Action, AuditEvent

_DCM = "DCM"


@dataclass(frozen=True)
class _Code:
    code: str
    meaning: str
    system: str = _DCM

    def element(self, parent: ET.Element, tag: str) -> ET.Element:
        attributes = {"csd-code": self.code, "codeSystemName": self.system}
        return ET.SubElement(parent, tag, {**attributes, "originalText": self.meaning})


QUERY = _Code("110112", "Query")
TRANSFERRED = _Code("110104", "DICOM Instances Transferred")
ACCESSED = _Code("110103", "DICOM Instances Accessed")
STUDY_DELETED = _Code("110105", "DICOM Study Deleted")
AUDIT_LOG_USED = _Code("110101", "Audit Log Used")
USER_AUTHENTICATION = _Code("110114", "User Authentication")
_SOURCE = _Code("110153", "Source Role ID")
_DESTINATION = _Code("110152", "Destination Role ID")
_STUDY_UID = _Code("110180", "Study Instance UID")
_PATIENT_NUMBER = _Code("2", "Patient Number", "RFC-3881")
_QUERY_SOP_CLASS = _Code("110181", "SOP Class UID")
_APPLICATION_SERVER = _Code("4", "Application Server process tier in a multi-tier system")
_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # QIDO-RS is a Study Root C-FIND over HTTP
# Studies named per message: a search of a thousand studies must still fit one UDP datagram
# (the audit table keeps them all).
MAX_STUDIES = 100

# action → (Event ID, EventActionCode, whether the caller is where the data comes from)
_EVENTS: Mapping[Action, tuple[_Code, str, bool]] = {
    Action.SEARCH: (QUERY, "E", True),
    Action.RETRIEVE: (TRANSFERRED, "R", False),
    Action.STORE: (TRANSFERRED, "C", True),
    Action.DELETE: (ACCESSED, "D", True),
    Action.FEED_READ: (ACCESSED, "R", False),
    Action.AUDIT_READ: (AUDIT_LOG_USED, "R", False),
    Action.ADMINISTER: (ACCESSED, "U", False),
    Action.ASSOCIATE: (USER_AUTHENTICATION, "E", True),  # a DIMSE association
}


def event_code(event: AuditEvent) -> tuple[_Code, str]:
    """The Event ID and EventActionCode of ``event``."""
    code, action_code, _ = _EVENTS[event.action]
    if event.action is Action.DELETE and "/series/" not in event.path:
        code = STUDY_DELETED
    return code, action_code


def _outcome_indicator(status: int) -> str:
    """0 success, 4 minor failure (the request was refused), 8 serious failure (ours)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def audit_message(event: AuditEvent, source_id: str, patients: Mapping[str, str]) -> bytes:
    """The message as UTF-8 XML; ``patients`` maps a study UID to its Patient ID."""
    code, action_code = event_code(event)
    root = ET.Element("AuditMessage")
    identification = ET.SubElement(
        root,
        "EventIdentification",
        {
            "EventActionCode": action_code,
            "EventDateTime": event.occurred_at.isoformat(),
            "EventOutcomeIndicator": _outcome_indicator(event.status),
        },
    )
    code.element(identification, "EventID")
    if event.outcome != "success":
        description = ET.SubElement(identification, "EventOutcomeDescription")
        description.text = f"HTTP {event.status}"
    _participants(root, event, source_id)
    source = ET.SubElement(root, "AuditSourceIdentification", {"AuditSourceID": source_id})
    _APPLICATION_SERVER.element(source, "AuditSourceTypeCode")
    _objects(root, event, patients)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _participants(root: ET.Element, event: AuditEvent, source_id: str) -> None:
    caller_is_source = _EVENTS[event.action][2]
    caller = ET.SubElement(
        root,
        "ActiveParticipant",
        {
            "UserID": event.user_subject,
            "UserName": event.user_name,
            "UserIsRequestor": "true",
            "NetworkAccessPointID": event.client_address,
            "NetworkAccessPointTypeCode": "2",  # an IP address
        },
    )
    (_SOURCE if caller_is_source else _DESTINATION).element(caller, "RoleIDCode")
    archive = ET.SubElement(
        root,
        "ActiveParticipant",
        {"UserID": f"{source_id}/{event.service}{event.path}", "UserIsRequestor": "false"},
    )
    (_DESTINATION if caller_is_source else _SOURCE).element(archive, "RoleIDCode")


def _objects(root: ET.Element, event: AuditEvent, patients: Mapping[str, str]) -> None:
    if event.action is Action.SEARCH:
        query = _object(root, _STUDY_ROOT_FIND, "2", "24", _QUERY_SOP_CLASS)
        text = ET.SubElement(query, "ParticipantObjectQuery")
        text.text = base64.b64encode(f"{event.path}?{event.query}".encode()).decode()
    studies = event.study_uids[:MAX_STUDIES]
    for patient_id in dict.fromkeys(patients[s] for s in studies if s in patients):
        _object(root, patient_id, "1", "1", _PATIENT_NUMBER)
    for study in studies:
        _object(root, study, "2", "3", _STUDY_UID)


def _object(
    root: ET.Element, object_id: str, type_code: str, role: str, id_type: _Code
) -> ET.Element:
    """A ParticipantObjectIdentification: a person (1) or system object (2) in a role
    (1 Patient, 3 Report, 24 Query; RFC 3881 / PS3.15 A.5.2.4)."""
    found = ET.SubElement(
        root,
        "ParticipantObjectIdentification",
        {
            "ParticipantObjectID": object_id,
            "ParticipantObjectTypeCode": type_code,
            "ParticipantObjectTypeCodeRole": role,
        },
    )
    id_type.element(found, "ParticipantObjectIDTypeCode")
    return found
