"""The STOW-RS response (PS3.18 §10.5.3): referenced and failed SOP sequences, status code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from dicomcommon import dicomjson
from dicomcommon.dataset import Instance
from dicomcommon.errors import FailureReason, WarningReason
from dicomcommon.events import Outcome, OutcomeStatus

_SUCCESS = {OutcomeStatus.STORED, OutcomeStatus.DUPLICATE, OutcomeStatus.REPLACED}
_SUCCESS |= {OutcomeStatus.STALE}  # stored, then superseded by a later command in stream order
UNCONFIRMED_WARNING = (
    '299 - "Stored durably; the index has not confirmed yet, so the instance may take a '
    'moment to become searchable"'
)


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

    def stored(self, instance: Instance, outcome: Outcome | None) -> None:
        if outcome is not None and outcome.status not in _SUCCESS:
            reason = (
                FailureReason.DUPLICATE_SOP_INSTANCE
                if outcome.status is OutcomeStatus.CONFLICT
                else FailureReason.PROCESSING_FAILURE
            )
            self.fail(instance.sop_class_uid, instance.sop_instance_uid, reason)
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

    def fail(self, sop_class: str | None, sop_instance: str | None, reason: int) -> None:
        item: dict[str, Any] = {"00081197": _us(reason)}
        if sop_class:
            item["00081150"] = _ui(sop_class)
        if sop_instance:
            item["00081155"] = _ui(sop_instance)
        self.failed.append(item)

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
        headers = {"Warning": UNCONFIRMED_WARNING} if self.unconfirmed else {}
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
