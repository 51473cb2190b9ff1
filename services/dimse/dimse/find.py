"""C-FIND SCP (PS3.4 C.4.1): Study Root and Patient Root, answered from the index through the
same query model (``dicomcommon.search.query``) and SQL (``dicomcommon.search.sql``) as
QIDO-RS, so a C-FIND and a QIDO search with the same keys match the same entities.

Each identifier element becomes a QIDO parameter: one with a value is a matching key (single
value, ``*`` / ``?`` wildcards, ``\\``-separated UID lists, date / time ranges: the syntax of
PS3.4 C.2.2.2 that QIDO shares), an empty one a return key (``includefield``). Matches answer
with the requested keys only. Sequence matching is not offered yet: a sequence key is returned
when present, never matched. The PATIENT level (Patient Root) searches studies and answers each
patient once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomcommon.adapters import db
from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import BackendUnavailable, DicomwebError
from dicomcommon.search import sql as searchsql
from dicomcommon.search.query import parse_query
from dicomcommon.web.audit import Action, AuditRecord
from dimse import statuses
from dimse.auditing import DimseAudit, identifier_text
from dimse.callers import CallerPolicy
from dimse.settings import Settings

log = logging.getLogger(__name__)

PATIENT = "PATIENT"
_LEVELS = {PATIENT: Level.STUDY, "STUDY": Level.STUDY, "SERIES": Level.SERIES}
_LEVELS["IMAGE"] = Level.INSTANCE
_NOT_KEYS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})
_CHARSET = "00080005"
_PATIENT_KEYS = ("00100010", "00100020")  # PatientName, PatientID: one answer per patient
_STUDY_UID = "0020000D"


@dataclass(frozen=True)
class Identifier:
    """A C-FIND request identifier as QIDO parameters, and the keys its answers carry."""

    level_name: str
    level: Level
    parameters: list[tuple[str, str]]
    returned: frozenset[str]  # GGGGEEEE

    @classmethod
    def of(cls, identifier: Dataset) -> Identifier:
        name = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        if name not in _LEVELS:
            raise ValueError(f"unsupported Query/Retrieve Level {name!r}")
        parameters: list[tuple[str, str]] = []
        returned: set[str] = set()
        for element in identifier:
            if element.keyword in _NOT_KEYS:
                continue
            key = element.keyword or f"{element.tag:08X}"
            returned.add(f"{element.tag:08X}")
            value = "" if element.VR == "SQ" else _text(element)
            parameters.append((key, value) if value else ("includefield", key))
        return cls(name, _LEVELS[name], parameters, frozenset(returned))

    def answer(self, match: dict[str, Any]) -> Dataset:
        kept = {tag: v for tag, v in match.items() if tag in self.returned or tag == _CHARSET}
        answer = Dataset.from_json(kept)
        answer.QueryRetrieveLevel = self.level_name
        return answer


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
    pool: asyncpg.Pool
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
            work = asyncio.run_coroutine_threadsafe(self.matches(identifier), self.loop)
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
        yield from responses(identifier, matches, lambda: bool(event.is_cancelled))

    async def matches(self, identifier: Identifier) -> list[dict[str, Any]]:
        """At most ``max_find_matches`` matches, as DICOM JSON (the index's order)."""
        limit = self.settings.max_find_matches
        query = parse_query(identifier.level, identifier.parameters, max_limit=limit)
        search = searchsql.build_search(query, self.settings.http.public_base_url.rstrip("/"))
        rows = await db.fetch(self.pool, search.text, *search.args)
        if len(rows) > limit:
            log.warning("C-FIND: more than %d matches; the first %d are answered", limit, limit)
        found = [orjson.loads(row["match"]) for row in rows[:limit]]
        return _patients(found) if identifier.level_name == PATIENT else found


def responses(
    identifier: Identifier, matches: list[dict[str, Any]], cancelled: Callable[[], bool]
) -> Iterator[tuple[int, Dataset | None]]:
    """One pending response per match, then success; cancel once a C-CANCEL came."""
    for match in matches:
        if cancelled():
            yield statuses.CANCEL, None
            return
        yield statuses.PENDING, identifier.answer(match)
    yield statuses.SUCCESS, None


def _patients(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One answer per patient (name and ID) among matching studies."""
    seen: dict[str, dict[str, Any]] = {}
    for study in studies:
        key = orjson.dumps([study.get(tag) for tag in _PATIENT_KEYS]).decode()
        seen.setdefault(key, study)
    return list(seen.values())
