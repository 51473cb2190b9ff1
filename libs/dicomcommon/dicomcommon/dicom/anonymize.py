"""De-identification by the PS3.15 Annex E Basic Application Level Confidentiality Profile.

The per-attribute actions are data: ``anonymize_profile.csv`` holds PS3.15 Table E.1-1 of the
2025e edition, all 654 attribute rows (tag, Basic Profile action and the actions of the options
this module implements), checked row by row against the standard's own table. Action codes
(Table E.1-1a): D dummy value, Z zero length, X remove, K keep (sequences: cleaned), C clean,
U replace the UID. A compound code (``X/Z``, ``Z/D``, ``X/D``, ``X/Z/D``) depends on the
attribute's Type in the IOD, which a de-identifier without module tables does not know; its
last alternative keeps every IOD conformant and is equally non-identifying, so it is taken.
``X/Z/U*`` keeps the sequence and replaces the UIDs inside it.

UIDs are replaced by a keyed hash (HMAC-SHA-256 → a ``2.25`` UUID-derived UID, PS3.5 B.2), so
the same original UID always maps to the same new one: a study stays one study across requests
and replicas, and nobody without the secret can reverse or confirm the mapping.
"""

from __future__ import annotations

import csv
import enum
import functools
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from dicomcommon.dicom.elements import BINARY_VRS

PROFILE_TABLE = Path(__file__).with_name("anonymize_profile.csv")


class Option(enum.StrEnum):
    """The options of PS3.15 E.3 this module implements (setting names)."""

    RETAIN_UIDS = "retain_uids"  # E.3.9
    RETAIN_LONG_FULL_DATES = "retain_long_full_dates"  # E.3.6
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"  # E.3.4
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"  # E.3.3
    CLEAN_DESCRIPTORS = "clean_descriptors"  # E.3.5


# PS3.16 CID 7050 De-identification Method: (code value, code meaning), scheme DCM.
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES = {
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONG_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
}

# D: a value consistent with the VR that carries no information (PS3.15 Table E.1-1a).
_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: dict[str, object] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "AT": 0,
    **{vr: 0 for vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV")},
    **{vr: b"\0\0" for vr in BINARY_VRS},
}
# Values C cleans; AE is among them because the Retain Device Identity Option cleans AE titles.
_TEXT_VRS = frozenset({"AE", "LO", "SH", "ST", "LT", "UT", "UC", "PN"})
_IDENTIFIER_VRS = _TEXT_VRS | {"DA", "CS"}
_CLEANED = "***"


@dataclass(frozen=True)
class _Row:
    basic: str
    options: dict[Option, str]


@functools.cache
def profile_table() -> dict[str, _Row]:
    """PS3.15 Table E.1-1 as ``tag`` (eight hex digits, ``x`` for repeating groups) → row."""
    table: dict[str, _Row] = {}
    with PROFILE_TABLE.open(newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            options = {option: row[option.value] for option in Option if row[option.value]}
            table[row["tag"].upper().replace("X", "x")] = _Row(row["basic_profile"], options)
    return table


def parse_options(value: str | Iterable[str]) -> frozenset[Option]:
    """``"retain_uids, clean_descriptors"`` → options; unknown names raise ``ValueError``."""
    names = value.split(",") if isinstance(value, str) else value
    return frozenset(Option(name.strip().lower()) for name in names if name.strip())


def anonymize_uid(uid: str, uid_secret: bytes | str) -> str:
    """The replacement for ``uid``: a ``2.25`` UID of a UUIDv8 built from an HMAC-SHA-256."""
    key = uid_secret.encode() if isinstance(uid_secret, str) else uid_secret
    digest = bytearray(hmac.new(key, uid.strip("\0 ").encode(), hashlib.sha256).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom (RFC 9562 §5.8)
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
    return f"2.25.{int.from_bytes(digest, 'big')}"


def action_for(tag: int, options: Collection[Option]) -> str:
    """The effective action for ``tag``: the Basic Profile's unless an option overrides it."""
    if tag >> 16 & 1:
        return "X"  # private attributes (Table E.1-1; Retain Safe Private is not implemented)
    row = _row_for(tag)
    if row is None:
        return "K"
    for option in Option:
        if option in options and option in row.options:
            return row.options[option]
    return row.basic


def _row_for(tag: int) -> _Row | None:
    table = profile_table()
    key = f"{tag:08X}"
    group = tag >> 16
    if 0x5000 <= group <= 0x50FF and not group & 1:
        return table.get("50xxxxxx")
    if 0x6000 <= group <= 0x60FF and not group & 1:
        return table.get(f"60xx{key[4:]}")
    return table.get(key)


def anonymize(ds: Dataset, options: Collection[str] = (), uid_secret: bytes | str = b"") -> None:
    """De-identify ``ds`` in place (PS3.15 E.1) with the given options (``Option`` names).

    ``uid_secret`` keys the UID replacement and is required unless UIDs are retained. Adds
    Patient Identity Removed, De-identification Method (Code Sequence) and Longitudinal
    Temporal Information Modified (PS3.15 E.1.1, PS3.3 C.7.1.1) and updates the file meta.
    """
    chosen = parse_options(options)
    if Option.RETAIN_UIDS not in chosen and not uid_secret:
        raise ValueError("uid_secret is required to replace UIDs (or retain_uids)")
    identifiers = _identifiers(ds, chosen)
    _Pass(chosen, uid_secret, identifiers).dataset(ds, cleaning=False)
    _remove_overlays_without_data(ds)
    _record_method(ds, chosen)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


@dataclass(frozen=True)
class _Pass:
    """One walk over a data set and, recursively, its sequence items (PS3.15 E.1.1)."""

    options: frozenset[Option]
    uid_secret: bytes | str
    identifiers: tuple[str, ...]

    def dataset(self, ds: Dataset, cleaning: bool) -> None:
        for tag in list(ds.keys()):
            self.element(ds, tag, cleaning)

    def element(self, ds: Dataset, tag: BaseTag, cleaning: bool) -> None:
        elem = ds[tag]
        action = action_for(int(tag), self.options).split("/")[-1]
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = Sequence() if elem.VR == "SQ" else None
        elif action == "D":
            self.dummy(elem)
        elif action == "U":
            elem.value = self.uids(elem)
        elif elem.VR == "SQ":  # K, C and U*: keep the sequence, de-identify its items
            for item in elem.value:
                self.dataset(item, cleaning or action == "C")
        elif action == "C" or cleaning:
            self.clean(elem)

    def dummy(self, elem: DataElement) -> None:
        if elem.VR == "SQ":
            elem.value = Sequence([Dataset()])  # one empty item: present, says nothing
        elif elem.VR == "UI":
            elem.value = self.uids(elem)
        else:
            elem.value = _DUMMIES.get(elem.VR, _DUMMY_TEXT)

    def uids(self, elem: DataElement) -> list[str] | str | None:
        values = [v for v in (elem.value if elem.VM > 1 else [elem.value]) if v]
        if not values:
            return None
        mapped = [anonymize_uid(str(v), self.uid_secret) for v in values]
        return mapped if len(mapped) > 1 else mapped[0]

    def clean(self, elem: DataElement) -> None:
        """C: keep the descriptor, minus any identifying value found elsewhere in the data
        set (names, IDs, dates that the profile removes), matched case-insensitively."""
        if elem.VR not in _TEXT_VRS or elem.value is None or not self.identifiers:
            return
        pattern = re.compile("|".join(map(re.escape, self.identifiers)), re.IGNORECASE)
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        cleaned = [pattern.sub(_CLEANED, str(v)) for v in values]
        elem.value = cleaned if len(cleaned) > 1 else cleaned[0]


def _identifiers(ds: Dataset, options: frozenset[Option]) -> tuple[str, ...]:
    """Text values the profile removes or replaces: what a cleaned descriptor must not hold."""
    found: set[str] = set()
    for elem in ds.iterall():
        if elem.VR not in _IDENTIFIER_VRS or not elem.value or elem.tag >> 16 & 1:
            continue
        if action_for(int(elem.tag), options) in ("K", "C"):
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        for value in values:
            found.update(part.strip() for part in re.split(r"[\^=]", str(value)))
    return tuple(sorted((v for v in found if len(v) >= 3), key=len, reverse=True))


def _remove_overlays_without_data(ds: Dataset) -> None:
    """Overlay Data (60xx,3000) is removed (X); the rest of its Overlay Plane Module goes with
    it, since the module without its Type 1 data would no longer conform (PS3.3 C.9.2)."""
    for tag in list(ds.keys()):
        group = tag >> 16
        if 0x6000 <= group <= 0x60FF and not group & 1 and (group << 16 | 0x3000) not in ds:
            del ds[tag]


def _record_method(ds: Dataset, options: frozenset[Option]) -> None:
    """PS3.15 E.1.1 (items 5 and 6): say that and how the data set was de-identified."""
    codes = [BASIC_PROFILE_CODE, *sorted(OPTION_CODES[o] for o in options)]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [meaning for _, meaning in codes]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    kept = Option.RETAIN_LONG_FULL_DATES in options
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if kept else "REMOVED"
