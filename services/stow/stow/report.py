"""The STOW-RS response (PS3.18 §10.5.3): referenced and failed SOP sequences, status code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from dicomcommon.adapters.events import Outcome
from dicomcommon.adapters.ingest import failure_reason
from dicomcommon.dicom import dicomjson
from dicomcommon.dicom.dataset import Instance
from dicomcommon.errors import DicomwebError, FailureReason, PayloadTooLarge, WarningReason

UNCONFIRMED_WARNING = (
    '299 - "Stored durably; the index has not confirmed yet, so the instance may take a '
    'moment to become searchable"'
)
_REFUSED_WARNING = '299 - "Refused (Failure Reason 0x0124): {}"'
_MAX_EXPLAINED = 5  # failures explained in the Warning header, each in at most 300 characters


def _warning(text: str) -> str:
    """One RFC 7234 warning: printable ASCII in a quoted string."""
    clean = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text[:300])
    return f'299 - "{clean}"'


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]}


def _ur(value: str) -> dict[str, Any]:
    return {"vr": "UR", "Value": [value]}


def _us(value: int) -> dict[str, Any]:
    return {"vr": "US", "Value": [int(value)]}


@dataclass
class StoreReport:
    """Collects each part's fate, then renders the response the client accepts."""

    base_url: str
    study_uid: str | None = None
    referenced: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)
    stored_uids: list[tuple[str, str, str]] = field(default_factory=list)  # for the audit trail
    warned: bool = False
    unconfirmed: bool = False
    refusals: set[str] = field(default_factory=set)  # why instances were not authorized
    explanations: list[str] = field(default_factory=list)  # why instances failed, for people

    def stored(self, instance: Instance, outcome: Outcome | None) -> None:
        reason = failure_reason(outcome)
        if reason is FailureReason.NOT_AUTHORIZED and outcome is not None:
            self.refuse(instance, outcome.detail)
            return
        if reason is not None and outcome is not None:
            self.fail(instance.sop_class_uid, instance.sop_instance_uid, reason, outcome.detail)
            return
        item = {
            "00081150": _ui(instance.sop_class_uid),
            "00081155": _ui(instance.sop_instance_uid),
            "00081190": _ur(f"{self.base_url}/{instance.instance_path}"),
        }
        if instance.warnings:
            item["00081196"] = _us(WarningReason.COERCION_OF_DATA_ELEMENTS)
            self.warned = True
        self.unconfirmed |= outcome is None
        self.referenced.append(item)
        self.studies.add(instance.study_instance_uid)
        self.stored_uids.append(
            (instance.study_instance_uid, instance.series_instance_uid, instance.sop_instance_uid)
        )

    def refuse(self, instance: Instance, why: str) -> None:
        """Study access groups refuse the instance: a failure with its reason in a Warning."""
        self.fail(instance.sop_class_uid, instance.sop_instance_uid, FailureReason.NOT_AUTHORIZED)
        self.refusals.add(why)

    def fail(
        self, sop_class: str | None, sop_instance: str | None, reason: int, why: str = ""
    ) -> None:
        """A failed instance; ``why`` (when given) is told in the Warning header."""
        if why and len(self.explanations) < _MAX_EXPLAINED:
            self.explanations.append(f"{sop_instance or 'an instance'}: {why}")
        item: dict[str, Any] = {"00081197": _us(reason)}
        if sop_class:
            item["00081150"] = _ui(sop_class)
        if sop_instance:
            item["00081155"] = _ui(sop_instance)
        self.failed.append(item)

    def cut_short(self, error: DicomwebError) -> None:
        """The request failed as a whole (too many parts, a body cut before its closing
        boundary) after some instances were stored: those stay listed, the rest is one failure
        without UIDs (0xA700 past a limit, 0xC000 for a malformed body)."""
        too_large = error.status == PayloadTooLarge.status
        reason = FailureReason.OUT_OF_RESOURCES if too_large else FailureReason.CANNOT_UNDERSTAND
        self.explanations.insert(0, f"the rest of the request was not stored: {error.message}")
        self.fail(None, None, reason)

    def status_code(self) -> int:
        if not self.referenced:
            return 409 if self.failed else 400
        if self.failed or self.warned or self.unconfirmed:
            return 202
        return 200

    def dataset(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        study = self.study_uid or (next(iter(self.studies)) if len(self.studies) == 1 else None)
        if study:
            body["00081190"] = _ur(f"{self.base_url}/studies/{study}")
        if self.failed:
            body["00081198"] = {"vr": "SQ", "Value": self.failed}
        if self.referenced:
            body["00081199"] = {"vr": "SQ", "Value": self.referenced}
        return body

    def response(self, xml: bool) -> Response:
        warnings = [_warning(text) for text in self.explanations]
        warnings += [UNCONFIRMED_WARNING] if self.unconfirmed else []
        warnings += [_REFUSED_WARNING.format(why) for why in sorted(self.refusals)]
        headers = {"Warning": ", ".join(warnings)} if warnings else {}
        if xml:
            return Response(
                dicomjson.to_native_xml(self.dataset()),
                self.status_code(),
                headers,
                media_type="application/dicom+xml",
            )
        return Response(
            orjson.dumps(self.dataset()),
            self.status_code(),
            headers,
            media_type="application/dicom+json",
        )
