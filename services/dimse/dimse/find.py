"""C-FIND SCP (PS3.4 C.4.1): Study Root and Patient Root, answered from the index through the
same query model (``dicomcommon.search.query``) and SQL (``dicomcommon.search.sql``) as
QIDO-RS, so a C-FIND and a QIDO search with the same keys match the same entities.

Each identifier element becomes a QIDO parameter: one with a value is a matching key (single
value, ``*`` / ``?`` wildcards, ``\\``-separated UID lists, date / time ranges: the syntax of
PS3.4 C.2.2.2 that QIDO shares), an empty one a return key (``includefield``). A sequence
with one item is sequence matching (C.2.2.2.6): each key of the item with a value matches as
QIDO's ``Sequence.Attribute`` path (any stored item may match), and the item's keys are the
return keys inside the sequence. Matches answer with the requested keys only, in sequences
too. The PATIENT level (Patient Root) searches studies and answers each patient once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import ImplicitVRLittleEndian

from dicomcommon import studyaccess
from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level, attribute
from dicomcommon.errors import BackendUnavailable, DicomwebError
from dicomcommon.search import sql as searchsql
from dicomcommon.search.query import parse_query
from dicomcommon.web.audit import Action, AuditRecord
from dimse import answers, statuses
from dimse.auditing import DimseAudit, identifier_text
from dimse.callers import CallerPolicy
from dimse.pdus import PendingAnswers
from dimse.settings import Settings

log = logging.getLogger(__name__)

PATIENT = "PATIENT"
_LEVELS = {PATIENT: Level.STUDY, "STUDY": Level.STUDY, "SERIES": Level.SERIES}
_LEVELS["IMAGE"] = Level.INSTANCE
_NOT_KEYS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})
_CHARSET = "00080005"
_PATIENT_KEYWORDS = ("PatientName", "PatientID")  # one answer per patient
_PATIENT_KEYS = tuple(attribute(k).tag for k in _PATIENT_KEYWORDS)
_STUDY_UID = "0020000D"
_LEVEL = "00080052"  # QueryRetrieveLevel


# The keys an answer carries: GGGGEEEE → None (the element), or for a sequence with an item in
# the identifier, the keys of its items.
Returned = dict[str, "Returned | None"]


@dataclass(frozen=True)
class Identifier:
    """A C-FIND request identifier as QIDO parameters, and the keys its answers carry."""

    level_name: str
    level: Level
    parameters: list[tuple[str, str]]
    returned: Returned

    @classmethod
    def of(cls, identifier: Dataset) -> Identifier:
        name = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        if name not in _LEVELS:
            raise ValueError(f"unsupported Query/Retrieve Level {name!r}")
        parameters: list[tuple[str, str]] = []
        kept = [e for e in identifier if e.keyword not in _NOT_KEYS]
        return cls(name, _LEVELS[name], parameters, _keys(kept, "", parameters))

    def answer(self, match: dict[str, Any], implicit: bool = False) -> Dataset:
        """The requested keys of ``match``, encoded once in the association's little endian
        syntax (``answers``) when they can be."""
        return answers.answer(self._document(match), implicit)

    def encoded(self, match: dict[str, Any], implicit: bool = False) -> bytes | None:
        """The requested keys of ``match`` in the association's little endian syntax, or
        None where ``answers`` leaves them to pydicom (``answer``)."""
        return answers.encoded(self._document(match), implicit)

    def _document(self, match: dict[str, Any]) -> dict[str, Any]:
        kept = _kept(match, self.returned)
        if _CHARSET in match:
            kept[_CHARSET] = match[_CHARSET]
        kept[_LEVEL] = {"vr": "CS", "Value": [self.level_name]}
        return kept


def _keys(
    elements: Iterable[DataElement], path: str, parameters: list[tuple[str, str]]
) -> Returned:
    """The return keys of ``elements``, adding their matching keys to ``parameters`` (inside
    a sequence, as ``Sequence.Attribute`` paths: C.2.2.2.6)."""
    returned: Returned = {}
    for element in elements:
        tag = f"{element.tag:08X}"
        key = path + (element.keyword or tag)
        if element.VR == "SQ":
            items = list(element.value or [])
            if len(items) > 1:
                raise ValueError(f"{key}: a sequence key has at most one item (C.2.2.2.6)")
            returned[tag] = _keys(items[0], f"{key}.", parameters) if items else None
            if not path:
                parameters.append(("includefield", key))
            continue
        returned[tag] = None
        value = _text(element)
        if value:
            parameters.append((key, value))
        elif not path:
            parameters.append(("includefield", key))
    return returned


def _kept(document: dict[str, Any], returned: Returned) -> dict[str, Any]:
    """The elements of a DICOM JSON ``document`` that ``returned`` asks for, sequences'
    items narrowed to their requested keys (an item asking for nothing: the whole items)."""
    kept: dict[str, Any] = {}
    for tag, inner in returned.items():
        element = document.get(tag)
        if element is None:
            continue
        if inner and element.get("Value"):
            items = [_kept(item, inner) for item in element["Value"]]
            element = {**element, "Value": items}
        kept[tag] = element
    return kept


def _text(element: DataElement) -> str:
    value = element.value
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


@dataclass
class FindScp:
    settings: Settings
    index: db.Reader  # a lane of the pool (``db.Lane``) in the service
    policy: CallerPolicy
    audit: DimseAudit
    loop: asyncio.AbstractEventLoop

    def on_c_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        """pynetdicom's ``EVT_C_FIND`` (in the association's thread): pending matches, then
        the final status; a C-CANCEL ends the matches (PS3.4 C.4.1.2.3). Audited with the
        studies answered."""
        touched = AuditRecord()
        query = identifier_text((e.keyword, str(e.value)) for e in event.identifier)
        status = statuses.UNABLE_TO_PROCESS
        try:
            for status, answer in self._answers(event, touched):
                yield status, answer
        finally:
            self.audit.record(event.assoc, Action.SEARCH, "C-FIND", status, touched, query)

    def _answers(self, event: Any, touched: AuditRecord) -> Iterator[tuple[int, Dataset | None]]:
        if not self.policy.permits(event.assoc, "find"):
            yield statuses.NOT_AUTHORIZED, None
            return
        try:
            identifier = Identifier.of(event.identifier)
            principal = self.policy.principal(event.assoc)
            groups = studyaccess.visible_groups(principal, self.settings.study_groups)
            work = asyncio.run_coroutine_threadsafe(self.matches(identifier, groups), self.loop)
            matches = work.result(self.settings.postgres.command_timeout + 5)
        except BackendUnavailable as exc:
            log.warning("C-FIND: %s", exc.message)
            yield statuses.OUT_OF_RESOURCES, None
            return
        except (DicomwebError, ValueError) as exc:
            log.warning("C-FIND: %s", exc)
            yield statuses.UNABLE_TO_PROCESS, None
            return
        for match in matches:
            study = match.get(_STUDY_UID, {}).get("Value", [None])[0]
            touched.touch(study=study)
        touched.add_count(len(matches))
        implicit = event.context.transfer_syntax == ImplicitVRLittleEndian
        yield from responses(
            identifier,
            matches,
            lambda: bool(event.is_cancelled),
            implicit,
            PendingAnswers.of(event),
        )

    async def matches(
        self, identifier: Identifier, groups: studyaccess.Groups | None = None
    ) -> list[dict[str, Any]]:
        """At most ``max_find_matches`` matches, as DICOM JSON (the index's order), of the
        studies of ``groups`` when given (``studyaccess``, in SQL as QIDO's)."""
        limit = self.settings.max_find_matches
        parameters = identifier.parameters
        if identifier.level_name == PATIENT:  # ``_patients`` tells patients apart by these
            parameters = [*parameters, *(("includefield", k) for k in _PATIENT_KEYWORDS)]
        parsed = parse_query(identifier.level, parameters, max_limit=limit)
        query = dataclasses.replace(parsed, requested_only=True)  # answers carry no more
        base_url = self.settings.http.public_base_url.rstrip("/")
        search = searchsql.build_search(query, base_url, groups)
        rows = await db.fetch(self.index, search.text, *search.args)
        if len(rows) > limit:
            log.warning("C-FIND: more than %d matches; the first %d are answered", limit, limit)
        found = [orjson.loads(row["match"]) for row in rows[:limit]]
        return _patients(found) if identifier.level_name == PATIENT else found


def responses(
    identifier: Identifier,
    matches: list[dict[str, Any]],
    cancelled: Callable[[], bool],
    implicit: bool = False,
    pending: PendingAnswers | None = None,
) -> Iterator[tuple[int, Dataset | None]]:
    """One pending response per match, then success; cancel once a C-CANCEL came.

    With ``pending``, each answer ``answers`` can encode is written there (``pdus``) rather
    than yielded; what waits there is handed on before anything is yielded, so the order of
    the responses is the order of the matches."""
    for match in matches:
        if cancelled():
            if pending is not None:
                pending.drop()
            yield statuses.CANCEL, None
            return
        data = None if pending is None else identifier.encoded(match, implicit)
        if pending is not None and data is not None:
            pending.add(data)
            continue
        if pending is not None:
            pending.flush()
        yield statuses.PENDING, identifier.answer(match, implicit)
    if pending is not None:
        pending.flush()
    yield statuses.SUCCESS, None


def _patients(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One answer per patient (name and ID) among matching studies."""
    seen: dict[str, dict[str, Any]] = {}
    for study in studies:
        key = orjson.dumps([study.get(tag) for tag in _PATIENT_KEYS]).decode()
        seen.setdefault(key, study)
    return list(seen.values())
