"""The building blocks of search SQL: bind parameters (``Parameters``), columns indexed by
their first characters (migration 0014's ``left(…, 256)`` indexes and ``dicom_prefixes``), and
the text, wildcard, fuzzy-name and DICOM JSON element terms the matching rules are written in.
Values only ever travel as bind parameters.
"""

from __future__ import annotations

import re
from typing import Any

from dicomcommon.dicom.dicomjson import (
    Attribute,
    DicomJson,
    Level,
)
from dicomcommon.search.columns import DOC, INSTANCE_ELEMENTS
from dicomcommon.search.query import (
    FuzzyName,
    Match,
    Range,
    SingleValue,
    ValueList,
    Wildcard,
)
from dicomcommon.web import parameters

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).


class Parameters:
    """Collects bind values and hands out their ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


# Columns indexed by their first characters (migration 0014): a value of any length is
# stored, the index finds the rows by prefix and the whole value is compared on those rows.
PREFIX_INDEXED = frozenset(
    {"patient_id", "accession_number", "study_date", "modality", "modalities_in_study"}
)


PREFIX_LENGTH = 256


def indexed_prefix(column: str) -> str:
    """The expression a prefix-indexed column is indexed on (the column itself otherwise).
    Ranges compare it alone: DA values have eight characters, far inside the prefix."""
    if column.rpartition(".")[2] in PREFIX_INDEXED:
        return f"left({column}, {PREFIX_LENGTH})"
    return column


def prefix_condition(column: str, match: Match, p: Parameters) -> str | None:
    """The index condition implied by an exact match on a prefix-indexed column."""
    expr = indexed_prefix(column)
    if expr == column:
        return None
    if isinstance(match, SingleValue):
        return f"{expr} = {p(match.value[:PREFIX_LENGTH])}"
    if isinstance(match, ValueList):
        return f"{expr} = ANY({p([v[:PREFIX_LENGTH] for v in match.values])}::text[])"
    return None


def text_condition(expr: str, name: bool, match: Match, p: Parameters) -> str:
    """Text matching; person names compare case-insensitively (PS3.4 C.2.2.2.1)."""
    if name:
        expr = f"lower({expr})"
    if isinstance(match, SingleValue):
        return f"{expr} = lower({p(match.value)})" if name else f"{expr} = {p(match.value)}"
    if isinstance(match, ValueList):
        return f"{expr} = ANY({p(list(match.values))}::text[])"
    if isinstance(match, Wildcard):
        pattern = p(like_pattern(match.pattern))
        return f"{expr} LIKE lower({pattern})" if name else f"{expr} LIKE {pattern}"
    if isinstance(match, FuzzyName):
        return " AND ".join(f"{expr} ~ {p(fuzzy_regex(w))}" for w in match.words) or "true"
    assert isinstance(match, Range)
    return _range_condition(expr, match, p)


def _range_condition(expr: str, match: Range, p: Parameters) -> str:
    """Inclusive range; the upper end compares on its own precision, so ``-1030`` includes
    10:30:59 and ``-2024`` (DT) includes all of 2024 (PS3.4 C.2.2.2.5)."""
    parts = []
    if match.low is not None:
        parts.append(f"{expr} >= {p(match.low)}")
    if match.high is not None:
        high = p(match.high)
        parts.append(f"left({expr}, length({high})) <= {high}")
    return " AND ".join(parts)


def elements(doc: str, path: tuple[Attribute, ...], p: Parameters) -> tuple[str, str]:
    """The values a key reaches in a stored document, through its sequence items (C.2.2.2.6:
    any item may match): a FROM clause and the alias of its values."""
    source = f"jsonb_array_elements({top_values(doc, p(path[0].tag))}) e0"
    for depth, step in enumerate(path[1:], start=1):
        source += (
            f" CROSS JOIN LATERAL jsonb_array_elements(e{depth - 1} -> {p(step.tag)}::text "
            f"-> 'Value') e{depth}"
        )
    return source, f"e{len(path) - 1}"


def top_values(doc: str, tag: str) -> str:
    """The ``Value`` array of the top-level element ``tag`` (a placeholder) of a stored
    document; NULL when absent. An instance's comes from the elements kept in its row (0021:
    each element's values exactly, or JSON null for one too large to keep, whose values are
    read from the metadata), which is what makes a key matched in thousands of instances'
    documents cheap."""
    values = f"({doc} -> {tag}::text -> 'Value')"
    if doc != DOC[Level.INSTANCE]:
        return values
    kept = f"({INSTANCE_ELEMENTS} -> {tag}::text)"
    return f"(CASE WHEN {kept} = 'null'::jsonb THEN {values} ELSE {kept} END)"


def containment(path: tuple[Attribute, ...], value: Any) -> DicomJson:
    inner: Any = value
    for step in reversed(path):
        inner = {step.tag: {"Value": [inner]}}
    result: DicomJson = inner
    return result


def json_value(vr: str, value: str) -> Any:
    """DICOM JSON carries IS, DS and binary numbers as JSON numbers (PS3.18 F.2.3)."""
    if vr in ("IS", "US", "UL", "SS", "SL", "SV", "UV") and parameters.is_integer(value):
        return int(value)
    if vr in ("IS", "DS", "FL", "FD"):
        return float(value)
    return value


def like_pattern(pattern: str) -> str:
    """DICOM wildcards to SQL LIKE: ``*`` → ``%``, ``?`` → ``_``, LIKE's own escaped."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def fuzzy_regex(word: str) -> str:
    """A word that must start some name component (after ``^``, ``=``, space or the start)."""
    return r"(^|[\^= ])" + re.escape(word.lower())
