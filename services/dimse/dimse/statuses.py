"""DIMSE status codes (the Status (0000,0900) of a response), each with its citation.

A C-STORE failure has the same number as STOW's Failure Reason where PS3.4 Annex B defines one,
so a STOW failure reason maps onto its DIMSE status in one place.
"""

from __future__ import annotations

from dicomcommon.errors import FailureReason

SUCCESS = 0x0000
PENDING = 0xFF00  # PS3.4 C.4.1.1.4: a match follows
CANCEL = 0xFE00  # PS3.4 C.4.1.1.4: matching ended by C-CANCEL
WARNING_COERCION = 0xB000  # PS3.4 B.2.3: Coercion of Data Elements
# PS3.7 C.4.2 / Annex C "Duplicate SOP Instance": a *different* instance already holds the SOP
# Instance UID and the duplicate policy rejects it. A permanent failure: unlike 0xA700 (out of
# resources) a modality does not retry it for ever.
DUPLICATE_SOP_INSTANCE = 0x0111
NOT_AUTHORIZED = 0x0124  # PS3.7 Annex C "Refused: Not Authorized": the AE may not do this
OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3: Refused: Out of Resources (retry later)
# PS3.4 B.2.3 (C-STORE); C-FIND's "Identifier does not match SOP Class" (C.4.1.1.4) alike
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
UNABLE_TO_PROCESS = 0xC000  # PS3.4 B.2.3 / C.4.1.1.4: cannot understand / unable to process

_OF_FAILURE = {FailureReason.DUPLICATE_SOP_INSTANCE: DUPLICATE_SOP_INSTANCE}


def of_failure(reason: FailureReason) -> int:
    """The C-STORE status for a STOW failure reason (PS3.4 B.2.3): 0xA700, 0xA900, 0xC000,
    0x0110 and 0x0124 are the same number in both; the rest are mapped above."""
    return _OF_FAILURE.get(reason, int(reason))


# C-MOVE / C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4)
UNABLE_TO_CALCULATE_MATCHES = 0xA701  # Refused: Out of Resources, number of matches
UNKNOWN_DESTINATION = 0xA801  # Refused: Move Destination unknown
IDENTIFIER_DOES_NOT_MATCH = 0xA900  # Identifier does not match SOP Class
# Storage commitment (PS3.4 J.3.2.1.1.2, PS3.7 Annex C) and N-ACTION (PS3.7 10.1.4.1.10)
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
PROCESSING_FAILURE = 0x0110
NO_SUCH_ACTION_TYPE = 0x0123
INVALID_SOP_INSTANCE = 0x0117
MISSING_ATTRIBUTE = 0x0120
