"""The QIDO answer assembled inside PostgreSQL: each match as DICOM JSON text built from the
index columns (the computed attributes, PS3.18 Tables 10.6.3-3 to -5) and the stored documents
(``includefield``), so the service neither decodes nor re-encodes documents on the hot path.
"""

from __future__ import annotations

import orjson

from dicomcommon.dicom.dicomjson import (
    INSTANCE_SUMMARY_KEYWORDS,
    Attribute,
    Level,
    attribute,
)
from dicomcommon.search.columns import ALIAS as _ALIAS
from dicomcommon.search.columns import DOC as _DOC
from dicomcommon.search.columns import SHARED as _SHARED
from dicomcommon.search.query import (
    Query,
)

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).
from dicomcommon.search.terms import Parameters

# Instance attributes an instance match can return without the full metadata: those kept in
# ``instance.summary`` and the SOP Instance UID (computed from its column).
_SUMMARIZED = frozenset({*INSTANCE_SUMMARY_KEYWORDS, "SOPInstanceUID"})


# Tags every match gets from index columns (``match_json``), never from a stored document.
_COMPUTED_TAGS = frozenset(
    {"0020000D", "0020000E", "00080018", "00080061", "00080062", "00201206", "00201208",
     "00201209", "00080056", "00081190"}
)  # fmt: skip


# Attributes every match returns, PS3.18 Tables 10.6.3-3, -4 and -5 (computed ones are added
# from columns by ``match_json``).
_REQUIRED = {
    Level.STUDY: ("SpecificCharacterSet", "StudyDate", "StudyTime", "AccessionNumber",
                  "ReferringPhysicianName", "TimezoneOffsetFromUTC", "PatientName", "PatientID",
                  "PatientBirthDate", "PatientSex", "StudyID", "StudyDescription"),
    Level.SERIES: ("SpecificCharacterSet", "Modality", "TimezoneOffsetFromUTC",
                   "SeriesDescription", "SeriesNumber", "PerformedProcedureStepStartDate",
                   "PerformedProcedureStepStartTime", "RequestAttributesSequence"),
    Level.INSTANCE: INSTANCE_SUMMARY_KEYWORDS,
}  # fmt: skip


_REQUIRED_TAGS = {level: tuple(attribute(k).tag for k in keys) for level, keys in _REQUIRED.items()}
_UID_TAGS = frozenset({"0020000D", "0020000E", "00080018"})  # computed from UID columns


def match_json(query: Query, levels: set[Level], base_url: str, p: Parameters) -> str:
    """One match as JSON text: the attributes computed from index columns (PS3.18 Tables
    10.6.3-3 to -5) and the RetrieveURL, then the stored attributes of each returned level.

    Everything is concatenated text, not jsonb: building jsonb objects, or turning jsonb into
    text, per row costs more than the whole rest of a long instance list. UIDs are validated
    at store (digits and dots) and the base URL is escaped once, so neither needs escaping per
    row. An instance list's own attributes are ``instance.summary``, text already. Stored
    documents never carry a computed tag (``_projection`` leaves them out), so no key appears
    twice.
    """
    b = _ALIAS[query.level]
    computed = [("0020000D", _uid_element("0020000D", f"{b}.study_instance_uid"))]
    path = f"'/studies/' || {b}.study_instance_uid"
    if Level.STUDY in levels:
        computed += [
            ("00080061", _array_element("00080061", "CS", "st.modalities_in_study")),
            ("00080062", _array_element("00080062", "UI", "st.sop_classes_in_study")),
            ("00201206", _number_element("00201206", "st.number_of_series")),
            ("00201208", _number_element("00201208", "st.number_of_instances")),
        ]
    if query.level >= Level.SERIES:
        path += f" || '/series/' || {b}.series_instance_uid"
        computed.append(("0020000E", _uid_element("0020000E", f"{b}.series_instance_uid")))
    if Level.SERIES in levels:
        computed.append(("00201209", _number_element("00201209", "se.number_of_instances")))
    if query.level == Level.INSTANCE:
        path += " || '/instances/' || i.sop_instance_uid"
        computed.append(("00080018", _uid_element("00080018", "i.sop_instance_uid")))
    if query.level != Level.SERIES:
        computed.append(("00080056", """'"00080056": {"vr": "CS", "Value": ["ONLINE"]}'"""))
    with_url = True
    if query.requested_only:  # the UIDs, and what the query names
        wanted = {a.tag for a in _wanted(query)} | _UID_TAGS
        computed = [(tag, element) for tag, element in computed if tag in wanted]
        with_url = "00081190" in wanted
    elements = [element for _, element in computed]
    if with_url:  # last, its base a bind value
        url = f"{p(_json_escaped(base_url))}::text || {path}"
        elements.append(f"""'"00081190": {{"vr": "UR", "Value": ["' || {url} || '"]}}'""")
    separated = " || ', ' || ".join(elements)
    documents = sorted(_stored_levels(query, levels))
    if Level.INSTANCE in documents and not query.include_all and _summarized(query, Level.INSTANCE):
        separated += " || coalesce(', ' || nullif(i.summary, ''), '')"
        documents.remove(Level.INSTANCE)
    if not documents:
        return f"('{{' || {separated} || '}}')"
    stored = " || ".join(f"coalesce({_projection(query, level, p)}, '{{}}')" for level in documents)
    rest = f"coalesce(', ' || nullif(substr(({stored})::text, 2), '}}'), '}}')"
    return f"('{{' || {separated} || {rest})"


def _json_escaped(text: str) -> str:
    """``text`` as it goes between the quotes of a JSON string."""
    return orjson.dumps(text).decode()[1:-1]


def _uid_element(tag: str, column: str) -> str:
    """A UI attribute from a UID column: never NULL, only digits and dots."""
    return f"""'"{tag}": {{"vr": "UI", "Value": ["' || {column} || '"]}}'"""


def _number_element(tag: str, column: str) -> str:
    return f"""'"{tag}": {{"vr": "IS", "Value": [' || coalesce({column}::text, 'null') || ']}}'"""


def _array_element(tag: str, vr: str, column: str) -> str:
    """A multi-valued attribute from an array column; no ``Value`` when it is empty."""
    head = f'"{tag}": {{"vr": "{vr}"'
    return (
        f"""'{head}' || CASE WHEN cardinality({column}) > 0 """
        f"""THEN ', "Value": ' || to_json({column})::text ELSE '' END || '}}'"""
    )


def returned_levels(query: Query) -> set[Level]:
    """The query level, plus higher levels the resource path leaves open (PS3.18 §10.6.3.3)."""
    levels = {query.level}
    if query.level > Level.STUDY and query.study_instance_uid is None:
        levels.add(Level.STUDY)
    if query.level > Level.SERIES and query.series_instance_uid is None:
        levels.add(Level.SERIES)
    if not query.include_all:
        levels.update(a.level for a in _wanted(query) if a.keyword not in _SHARED)
    return {level for level in levels if level <= query.level}


def documents(query: Query, levels: set[Level]) -> str:
    """Each projected level's stored DICOM JSON, read (detoasted) once per row: picking
    several tags from the column itself would read it again for every tag."""
    if query.include_all:
        return ""
    return "".join(
        f" CROSS JOIN LATERAL (SELECT {_DOC[level]} || '{{}}'::jsonb AS doc OFFSET 0) "
        f"{_ALIAS[level]}_doc"
        for level in sorted(_stored_levels(query, levels))
        if not _summarized(query, level)
    )


def _stored_levels(query: Query, levels: set[Level]) -> set[Level]:
    """The levels whose stored documents the match reads: all returned ones, but for a query
    of its ``requested_only`` keys, only those where it asks for a stored tag."""
    if not query.requested_only or query.include_all:
        return levels
    return {level for level in levels if _stored_tags(query, level)}


def _stored_tags(query: Query, level: Level) -> list[str]:
    """The tags of the level's stored document the match returns (``match_json`` computes the
    others)."""
    required = () if query.requested_only else _REQUIRED_TAGS[level]
    tags = [*required, *(a.tag for a in _wanted(query) if a.level == level)]
    return [t for t in dict.fromkeys(tags) if t not in _COMPUTED_TAGS]


def _summarized(query: Query, level: Level) -> bool:
    """Whether an instance's ``summary`` holds every tag the match returns."""
    return level == Level.INSTANCE and all(
        a.keyword in _SUMMARIZED
        for a in _wanted(query)
        if a.level == Level.INSTANCE and a.keyword not in _SHARED
    )


def _wanted(query: Query) -> list[Attribute]:
    """Attributes the request names, whose values each match returns (PS3.18 §10.6.3)."""
    return [*query.includefields, *(f.path[0] for f in query.filters)]


def _projection(query: Query, level: Level, p: Parameters) -> str:
    """The level's stored DICOM JSON, cut down to the returned tags unless ``includefield=all``,
    without the tags ``match_json`` computes.

    Picking keys in SQL keeps large instance metadata out of the wire and of the decoder.
    """
    if query.include_all:
        return f"({_DOC[level]} - {p(list(_COMPUTED_TAGS))}::text[])"
    return _picked(f"{_ALIAS[level]}_doc.doc", p(_stored_tags(query, level)))


def _picked(doc: str, tags: str) -> str:
    """The members of the jsonb ``doc`` whose keys are in the text array ``tags``."""
    return f"(SELECT jsonb_object_agg(k, {doc} -> k) FROM unnest({tags}::text[]) k WHERE {doc} ? k)"
