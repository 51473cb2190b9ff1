"""Reading a STOW-RS answer (PS3.18 §10.5.3): which instances the server referenced (stored,
or already held identically) and which it failed, with the Failure Reason of each.

The answer names instances by SOP Instance UID; a part the server could not parse has no UID,
so its failure is matched to whichever file of the batch nothing else accounts for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"

REASONS = {
    0x0110: "processing failure",
    0x0118: "no such SOP class",
    0x0122: "SOP class not supported",
    0xA700: "out of resources",
    0xA900: "data set does not match SOP class (a required UID missing or malformed)",
    0xC000: "cannot understand (not a readable DICOM file, or truncated)",
    43265: "the Study Instance UID contradicts the request URL",
    45070: "the SOP Instance UID exists on the server with other content",
}
"""Failure Reason (0008,1197) values a person may meet: PS3.4 Annex GG.4-1, PS3.18 §10.5.3,
and two codes Microsoft's server and ours use."""


def describe(reason: int) -> str:
    """``0xC000 cannot understand (…)``: the code as the standard writes it, then its meaning."""
    text = REASONS.get(reason, "failure")
    return f"0x{reason:04X} {text}"


@dataclass
class StowAnswer:
    referenced: list[str] = field(default_factory=list)  # in the answer's order
    failed: dict[str, int] = field(default_factory=dict)  # SOP Instance UID -> reason
    failed_without_uid: list[int] = field(default_factory=list)


def read_answer(body: bytes) -> StowAnswer:
    """The answer's sequences; a body that is not DICOM JSON reads as an empty answer."""
    answer = StowAnswer()
    try:
        dataset = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return answer
    if not isinstance(dataset, dict):
        return answer
    for item in _items(dataset, REFERENCED_SOP_SEQUENCE):
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            answer.referenced.append(str(uid))
    for item in _items(dataset, FAILED_SOP_SEQUENCE):
        reason = _first(item, FAILURE_REASON)
        code = int(reason) if isinstance(reason, int) else 0x0110
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            answer.failed[str(uid)] = code
        else:
            answer.failed_without_uid.append(code)
    return answer


def _items(dataset: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    value = dataset.get(tag, {}).get("Value", [])
    return [item for item in value if isinstance(item, dict)]


def _first(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value", [])
    return values[0] if values else None
