"""The order of QIDO matches: the ``orderby`` keys, or each level's default, as an ORDER BY
that always ends on the level's UID, so pages taken with ``offset`` neither repeat nor skip a
match while the index does not change.

Defaults: studies newest first (StudyDate, StudyTime, then arrival), series by SeriesNumber,
instances by InstanceNumber. Empty values sort lowest: first ascending, last descending. The
newest-first study order is the order of the ``study_newest_first`` index (0016), so a viewer's
study list is a top-N index scan; an ``orderby`` that starts with ``-StudyDate,-StudyTime``
uses the same index and sorts only the rows of equal date and time. Instances across studies
(``instance_number_order``, 0020) and studies by PatientName (0018), PatientID or
AccessionNumber (0020) read indexes of their order too.
"""

from __future__ import annotations

from dataclasses import dataclass

from dicomcommon.dicom.dicomjson import Level, level_of
from dicomcommon.errors import InvalidQuery
from dicomcommon.search.columns import ALIAS, COLUMNS, SHARED, UID
from dicomcommon.search.query import OrderKey, Query
from dicomcommon.search.terms import PREFIX_LENGTH

# IS values kept as text columns: they sort as the integers they hold (0016's dicom_integer).
_INTEGER_STRINGS = frozenset({"SeriesNumber", "InstanceNumber"})
# Sorted by their first 64 characters, as the ``study_newest_first`` and
# ``study_patient_name_order`` indexes keep them (a real DA or TM is far shorter, a person name
# rarely longer; a malformed value of several KB would not fit an index row).
ORDER_PREFIX_LENGTH = 64
# Sorted by the prefix their matching indexes keep (0014, with the UID since 0020): an LO or SH
# value is far shorter.
_PREFIX_SORTED = {
    "StudyDate": ORDER_PREFIX_LENGTH,
    "StudyTime": ORDER_PREFIX_LENGTH,
    "PatientName": ORDER_PREFIX_LENGTH,
    "PatientID": PREFIX_LENGTH,
    "AccessionNumber": PREFIX_LENGTH,
}


@dataclass(frozen=True, slots=True)
class SortTerm:
    """One ORDER BY term: an expression over the row of ``level``."""

    level: Level
    expression: str
    descending: bool

    def sql(self) -> str:
        return f"{self.expression} {'DESC NULLS LAST' if self.descending else 'ASC NULLS FIRST'}"


def _default(base: Level) -> list[SortTerm]:
    a = ALIAS[base]
    if base == Level.STUDY:
        return [
            SortTerm(base, f"left({a}.study_date, {ORDER_PREFIX_LENGTH})", True),
            SortTerm(base, f"left({a}.study_time, {ORDER_PREFIX_LENGTH})", True),
            SortTerm(base, f"{a}.created_at", True),
        ]
    number = "series_number" if base == Level.SERIES else "instance_number"
    return [SortTerm(base, f"dicom_integer({a}.{number})", False)]


def sort_terms(query: Query) -> list[SortTerm]:
    """The ORDER BY terms of ``query``, most significant first, ending on the level's UID in
    the direction of the last key."""
    base = query.level
    terms = [_term(key, base) for key in query.order] or _default(base)
    uid = f"{ALIAS[base]}.{UID[base]}"
    if terms[-1].expression != uid:
        terms.append(SortTerm(base, uid, terms[-1].descending))
    return terms


def _term(key: OrderKey, base: Level) -> SortTerm:
    attribute = key.attribute
    column, kind = COLUMNS.get(attribute.keyword, ("", "array"))
    if kind == "array":
        orderable = (
            k for k, (_, kind) in COLUMNS.items() if kind != "array" and level_of(k) <= base
        )
        raise InvalidQuery(
            f"orderby: {attribute} cannot order matches; a {base.name.lower()} search is "
            f"ordered by any of {', '.join(orderable)}"
        )
    level = base if attribute.keyword in SHARED else attribute.level
    expression = f"{ALIAS[level]}.{column}"
    if attribute.keyword in _INTEGER_STRINGS:
        expression = f"dicom_integer({expression})"
    elif attribute.keyword in _PREFIX_SORTED:
        expression = f"left({expression}, {_PREFIX_SORTED[attribute.keyword]})"
    return SortTerm(level, expression, key.descending)
