"""The SQL built from the query model: parameterized, joined only as needed, stable order."""

from __future__ import annotations

import pytest

from dicomcommon.dicom.dicomjson import Level
from dicomcommon.search.query import Query, parse_query
from dicomcommon.search.sql import build_count, build_search
from dicomcommon.search.terms import fuzzy_regex, like_pattern

BASE = "http://archive.example/dicom-web"
HOSTILE = "x'; DROP TABLE study; --"


def _query(level: Level, study: str | None = None, **params: str) -> Query:
    return parse_query(level, params.items(), max_limit=100, study_instance_uid=study)


@pytest.mark.parametrize(
    "params",
    [
        {"PatientID": HOSTILE},
        {"PatientName": HOSTILE + "*"},
        {"PatientName": HOSTILE, "fuzzymatching": "true"},
        {"StudyDescription": HOSTILE},
        {"PatientAge": HOSTILE},
        {"ProcedureCodeSequence.CodeValue": HOSTILE},
        {"ProcedureCodeSequence.CodeMeaning": HOSTILE + "?"},
    ],
)
def test_values_travel_as_parameters_never_in_the_text(params: dict[str, str]) -> None:
    search = build_search(_query(Level.STUDY, **params), BASE)
    assert "drop" not in search.text.lower()
    assert any("drop" in str(arg).lower() for arg in search.args)


def test_study_search_reads_typed_columns_and_orders_newest_first() -> None:
    search = build_search(_query(Level.STUDY, PatientID="P1", StudyDate="20240101-"), BASE)
    # found through the index of the value's prefix, then compared whole (migration 0014)
    assert "left(st.patient_id, 256) = $2 AND st.patient_id = $1" in search.text
    assert "left(st.study_date, 256) >= $" in search.text
    newest_first = (
        "ORDER BY left(st.study_date, 64) DESC NULLS LAST, "
        "left(st.study_time, 64) DESC NULLS LAST, "
        "st.created_at DESC NULLS LAST, st.study_instance_uid DESC NULLS LAST LIMIT $4 OFFSET $5"
    )
    assert newest_first in search.text
    assert search.text.endswith("ORDER BY page.pos")
    assert search.args[3:5] == (101, 0)  # one more than the limit tells a cut result
    assert "JOIN series" not in search.text and "JOIN instance" not in search.text


def test_person_names_match_case_insensitively_through_lower() -> None:
    search = build_search(_query(Level.STUDY, PatientName="doe*"), BASE)
    assert "lower(st.patient_name) LIKE lower($" in search.text
    assert "doe%" in search.args


def test_fuzzy_name_is_a_regex_per_word_on_component_starts() -> None:
    search = build_search(_query(Level.STUDY, PatientName="Do^jo", fuzzymatching="true"), BASE)
    assert search.text.count("lower(st.patient_name) ~ $") == 2
    assert fuzzy_regex("Do") in search.args


def test_modalities_in_study_use_array_operators() -> None:
    assert (
        "st.modalities_in_study @> $"
        in build_search(_query(Level.STUDY, ModalitiesInStudy="CT"), BASE).text
    )
    search = build_search(_query(Level.STUDY, ModalitiesInStudy="CT,MR"), BASE)
    assert "st.modalities_in_study && $" in search.text
    assert ["CT", "MR"] in search.args


def test_other_keys_use_jsonb_containment() -> None:
    search = build_search(_query(Level.STUDY, **{"00081032.00080100": "X1"}), BASE)
    assert "st.attributes @> $" in search.text
    assert {"00081032": {"Value": [{"00080100": {"Value": ["X1"]}}]}} in search.args


def test_numeric_containment_uses_json_numbers() -> None:
    search = build_search(_query(Level.INSTANCE, SliceThickness="1.25"), BASE)
    assert [1.25] in search.args  # tested in the element's Value array (0021)
    nested = build_search(_query(Level.INSTANCE, **{"00081115.00200013": "7"}), BASE)
    assert {"00081115": {"Value": [{"00200013": {"Value": [7]}}]}} in nested.args


def test_instance_keys_read_the_elements_kept_in_the_row_before_the_metadata() -> None:
    """A top-level instance key reads ``search_elements`` (0021) and the metadata only where
    that holds JSON null for the element; a sequence path reads the metadata."""
    empty = {"00111010": "NEEDLE", "emptyvaluematching": "true"}
    for params in ({"SliceThickness": "1.25"}, {"00111010": "NEE*"}, empty):
        text = build_search(_query(Level.INSTANCE, **params), BASE).text
        assert "CASE WHEN (i.search_elements -> $" in text, params
        assert "= 'null'::jsonb THEN (i.metadata -> $" in text, params
    nested = build_search(_query(Level.INSTANCE, **{"00081115.0020000E": "1.2"}), BASE).text
    assert "dicom_metadata_contains(i.metadata, $" in nested


def test_relational_series_search_joins_the_study() -> None:
    search = build_search(_query(Level.SERIES, PatientID="P1"), BASE)
    assert "JOIN study st ON st.study_instance_uid = se.study_instance_uid" in search.text
    assert search.levels == {Level.STUDY, Level.SERIES}


def test_series_of_one_study_needs_no_join() -> None:
    search = build_search(_query(Level.SERIES, study="1.2.3", StudyInstanceUID="1.2.3"), BASE)
    assert "JOIN study" not in search.text
    assert "se.study_instance_uid = $1" in search.text
    assert search.levels == {Level.SERIES}


def test_instances_of_a_series_use_their_own_columns() -> None:
    query = parse_query(
        Level.INSTANCE, [], max_limit=10, study_instance_uid="1.2", series_instance_uid="1.2.3"
    )
    search = build_search(query, BASE)
    assert "JOIN study" not in search.text and "JOIN series" not in search.text
    by_number = (
        "dicom_integer(i.instance_number) ASC NULLS FIRST, i.sop_instance_uid ASC NULLS FIRST"
    )
    assert f"ORDER BY {by_number} LIMIT $3 OFFSET $4" in search.text


def test_includefield_all_returns_whole_documents() -> None:
    search = build_search(_query(Level.STUDY, includefield="all"), BASE)
    assert "coalesce((st.attributes - $4::text[]), '{}')" in search.text


def test_projection_asks_only_for_returned_tags() -> None:
    search = build_search(_query(Level.STUDY, includefield="PatientAge"), BASE)
    [tags] = [arg for arg in search.args if isinstance(arg, list)]
    assert "00101010" in tags and "00100010" in tags and "00280010" not in tags


def test_deeper_includefields_are_ignored() -> None:
    search = build_search(_query(Level.STUDY, includefield="Rows"), BASE)
    assert search.levels == {Level.STUDY}


def test_like_pattern_escapes_sql_wildcards() -> None:
    assert like_pattern("a_b%c\\*?") == "a\\_b\\%c\\\\%_"


def test_instance_lists_read_the_summary_unless_more_is_asked() -> None:
    query = parse_query(
        Level.INSTANCE, [], max_limit=10, study_instance_uid="1.2", series_instance_uid="1.2.3"
    )
    text = build_search(query, BASE).text
    assert "i.summary" in text
    assert "i.metadata" not in text
    wider = _query(Level.INSTANCE, includefield="SliceThickness")
    assert "i.summary" not in build_search(wider, BASE).text
    everything = _query(Level.INSTANCE, includefield="all")
    assert "i.summary" not in build_search(everything, BASE).text


def test_the_base_url_travels_escaped_and_as_a_parameter() -> None:
    query = parse_query(Level.STUDY, [], max_limit=10)
    search = build_search(query, 'http://h/x"y')
    assert 'http://h/x\\"y' in search.args
    assert 'x"y' not in search.text


def test_without_study_groups_the_statement_is_unchanged() -> None:
    """No join, no condition, no parameter when study groups are off (or the caller an admin)."""
    query = _query(Level.INSTANCE, PatientID="P1")
    plain, unlimited = build_search(query, BASE), build_search(query, BASE, None)
    assert (plain.text, plain.args) == (unlimited.text, unlimited.args)
    assert "access_groups" not in plain.text


@pytest.mark.parametrize("level", list(Level))
def test_study_groups_limit_the_page_query_of_every_level(level: Level) -> None:
    search = build_search(_query(level), BASE, ("cardio",))
    page = search.text.split(" LIMIT ")[0]  # the condition sits before the page's limit
    assert "access_groups &&" in page
    assert ["cardio"] in search.args


@pytest.mark.parametrize("level", list(Level))
def test_counts_see_the_study_groups_and_read_at_most_one_past_the_limit(level: Level) -> None:
    count = build_count(_query(level, PatientID="P1"), 500, ("cardio",))
    assert "access_groups &&" in count.text and ["cardio"] in count.args
    assert count.text.endswith(f"LIMIT ${len(count.args)}) matched") and count.args[-1] == 501
    assert "ORDER BY" not in count.text


def _migration(name: str) -> str:
    from dicomcommon.schema import MIGRATIONS

    return (MIGRATIONS / name).read_text()


def test_prefix_matching_uses_the_prefix_length_of_the_indexes() -> None:
    """Migration 0014 indexes these columns by ``left(…, 256)``; a match on another length
    would miss the index (a sequential scan) or compare prefixes of the wrong size."""
    from dicomcommon.search.terms import PREFIX_INDEXED, PREFIX_LENGTH

    indexes = _migration("0014_parked_commands.sql")
    for column in PREFIX_INDEXED - {"modalities_in_study"}:
        assert f"left({column}, {PREFIX_LENGTH})" in indexes, column
    assert f"array_agg(left(v, {PREFIX_LENGTH}))" in indexes  # dicom_prefixes, for the array
    assert "dicom_prefixes(modalities_in_study)" in indexes


def test_default_study_order_sorts_by_the_prefix_its_index_keeps() -> None:
    from dicomcommon.search.order import ORDER_PREFIX_LENGTH

    index = _migration("0016_search_order_and_feed_class.sql")
    for column in ("study_date", "study_time"):
        assert f"left({column}, {ORDER_PREFIX_LENGTH}) DESC NULLS LAST" in index
