"""Extended query tags in the query model and its SQL: a declared tag's VR and level win over
the dictionary's, its key matches the tag's indexed values, and keys nobody declared are the
ones matched against stored metadata (the unindexed ones)."""

from __future__ import annotations

import pytest

from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import InvalidQuery
from dicomcommon.search.extendedtags import ExtendedTag, names_unindexed
from dicomcommon.search.matching import unindexed
from dicomcommon.search.query import Range, SingleValue, Wildcard, parse_query
from dicomcommon.search.sql import build_search

BASE = "http://archive.example/dicom-web"
PRIVATE = ExtendedTag(7, "00091001", "DA", Level.STUDY, "ACME 1.0", "Ready", "Enabled")
AGE = ExtendedTag(8, "00101010", "AS", Level.STUDY, None, "Ready", "Enabled")


def test_a_declared_private_tag_takes_its_vr_and_level() -> None:
    query = parse_query(
        Level.STUDY, [("00091001", "20240101-")], max_limit=10, extended={PRIVATE.path: PRIVATE}
    )
    [f] = query.filters
    assert f.extended == PRIVATE and f.attribute.level == Level.STUDY
    assert f.match == Range("20240101", None)
    assert unindexed(query) == []


def test_an_undeclared_private_tag_is_instance_level_text() -> None:
    with pytest.raises(InvalidQuery, match="instance-level"):
        parse_query(Level.STUDY, [("00091001", "x")], max_limit=10)
    query = parse_query(Level.INSTANCE, [("00091001", "AB*")], max_limit=10)
    [f] = query.filters
    assert f.extended is None and f.match == Wildcard("AB*")
    assert unindexed(query) == [f]


def test_a_tag_search_reads_the_value_table_with_parameters() -> None:
    query = parse_query(
        Level.STUDY, [("PatientAge", "042Y")], max_limit=10, extended={AGE.path: AGE}
    )
    search = build_search(query, BASE)
    assert "FROM extended_tag_study v WHERE v.tag_key = $" in search.text
    assert "v.study_instance_uid = st.study_instance_uid" in search.text
    assert "042Y" not in search.text and "042Y" in search.args
    assert query.filters[0].match == SingleValue("042Y")


def test_the_catalog_is_read_only_for_keys_no_column_holds() -> None:
    assert not names_unindexed(["PatientName", "StudyDate", "00100020"])
    assert names_unindexed(["PatientName", "PatientAge"])
    assert names_unindexed(["00091001"])
    assert names_unindexed(["ProcedureCodeSequence.CodeValue"])
