"""The QIDO-RS query model: PS3.18 §8.3.4 parameters and PS3.4 C.2.2.2 matching types."""

from __future__ import annotations

import pytest

from dicomcommon.dicom.dicomjson import Level
from dicomcommon.errors import InvalidQuery
from dicomcommon.search.query import (
    FuzzyName,
    Match,
    Query,
    Range,
    SingleValue,
    Universal,
    ValueList,
    Wildcard,
    parse_query,
)


def _parse(level: Level = Level.STUDY, /, **params: str) -> Query:
    return parse_query(level, params.items(), max_limit=100)


def _match(key: str, value: str, **params: str) -> Match:
    [found] = _parse(**{key: value, **params}).filters
    return found.match


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PatientID", "", Universal()),
        ("PatientID", "*", Universal()),
        ("PatientID", "12345", SingleValue("12345")),
        ("PatientName", "Doe^J*", Wildcard("Doe^J*")),
        ("PatientID", "A?C", Wildcard("A?C")),
        ("StudyInstanceUID", "1.2.3", SingleValue("1.2.3")),
        ("StudyInstanceUID", "1.2.3,1.2.4", ValueList(("1.2.3", "1.2.4"))),
        ("StudyInstanceUID", "1.2.3\\1.2.4", ValueList(("1.2.3", "1.2.4"))),
        ("ModalitiesInStudy", "CT\\MR", ValueList(("CT", "MR"))),
        ("StudyDate", "20240101", SingleValue("20240101")),
        ("StudyDate", "20240101-20240131", Range("20240101", "20240131")),
        ("StudyDate", "20240101-", Range("20240101", None)),
        ("StudyDate", "-20240131", Range(None, "20240131")),
        ("StudyTime", "0930-1030", Range("0930", "1030")),
        ("00080020", "-20240131", Range(None, "20240131")),
        ("NumberOfStudyRelatedInstances", "3", SingleValue("3")),
    ],
)
def test_each_value_gets_its_matching_type(key: str, value: str, expected: Match) -> None:
    assert _match(key, value) == expected


def test_datetime_range_keeps_timezone_offsets() -> None:
    found = _parse(Level.INSTANCE, AcquisitionDateTime="20240101120000+0100-2024")
    assert found.filters[0].match == Range("20240101120000+0100", "2024")
    single = _parse(Level.INSTANCE, AcquisitionDateTime="20240101-0500")
    assert single.filters[0].match == SingleValue("20240101-0500")


def test_fuzzy_person_name_matches_words_in_any_case() -> None:
    assert _match("PatientName", "Doe^JO", fuzzymatching="true") == FuzzyName(("doe", "jo"))
    assert _match("PatientName", "Doe^JO") == SingleValue("Doe^JO")


def test_sequence_path_by_tag_or_keyword() -> None:
    [found] = _parse(**{"00081032.CodeValue": "X1"}).filters
    assert [a.keyword for a in found.path] == ["ProcedureCodeSequence", "CodeValue"]
    assert found.match == SingleValue("X1")
    assert found.key == "ProcedureCodeSequence.CodeValue"


def test_includefield_repeated_comma_separated_and_all() -> None:
    query = parse_query(
        Level.STUDY,
        [("includefield", "PatientAge,00081030"), ("includefield", "all")],
        max_limit=100,
    )
    assert [a.keyword for a in query.includefields] == ["PatientAge", "StudyDescription"]
    assert query.include_all


def test_orderby_keys_by_keyword_or_tag_minus_for_descending() -> None:
    query = parse_query(
        Level.SERIES,
        [("orderby", "-StudyDate, 00200011"), ("orderby", "-StudyDate,Modality")],
        max_limit=100,
    )
    keys = [(k.attribute.keyword, k.descending) for k in query.order]
    assert keys == [("StudyDate", True), ("SeriesNumber", False), ("Modality", False)]
    assert _parse().order == ()


@pytest.mark.parametrize(
    ("value", "reason"),
    [("InstanceNumber", "instance-level"), ("Bogus", "not a DICOM keyword"), ("A.B", "sequence")],
)
def test_orderby_names_one_attribute_of_the_search_level_or_above(value: str, reason: str) -> None:
    with pytest.raises(InvalidQuery, match=reason):
        parse_query(Level.STUDY, [("orderby", value)], max_limit=100)


def test_limit_defaults_to_and_is_capped_at_the_maximum() -> None:
    assert _parse().limit == 100
    assert _parse(limit="5", offset="10").limit == 5
    assert _parse(limit="5", offset="10").offset == 10
    assert _parse(limit="5000").limit == 100


def test_path_uids_scope_the_search() -> None:
    query = parse_query(
        Level.INSTANCE, [], max_limit=10, study_instance_uid="1.2", series_instance_uid="1.2.3"
    )
    assert (query.study_instance_uid, query.series_instance_uid) == ("1.2", "1.2.3")


def test_transport_parameters_are_not_keys() -> None:
    assert _parse(accept="application/dicom+json", charset="utf-8").filters == ()


@pytest.mark.parametrize(
    ("value", "minutes"), [("+0100", 60), ("-0330", -210), ("+0000", 0), ("", None)]
)
def test_timezone_offset_is_the_query_timezone_not_a_match(value: str, minutes: int | None) -> None:
    query = _parse(TimezoneOffsetFromUTC=value, StudyDate="20240102")
    assert query.timezone_offset == minutes
    [timezone, date] = query.filters
    assert timezone.attribute.keyword == "TimezoneOffsetFromUTC"
    assert isinstance(timezone.match, Universal)  # returned, never matched
    assert date.match == SingleValue("20240102")


def test_emptyvaluematching_is_an_option_of_the_query() -> None:
    assert _parse(emptyvaluematching="true").empty_value_matching
    assert not _parse(emptyvaluematching="false").empty_value_matching
    assert not _parse().empty_value_matching


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "ten"}, "offset"),
        ({"fuzzymatching": "yes"}, "fuzzymatching"),
        ({"StudyDate": "2024-01-01"}, "StudyDate"),
        ({"StudyDate": "20240131-20240101"}, "StudyDate"),
        ({"StudyDate": "2024*"}, "StudyDate"),
        ({"StudyTime": "25x"}, "StudyTime"),
        ({"StudyInstanceUID": "1.2.*"}, "StudyInstanceUID"),
        ({"NumberOfStudyRelatedSeries": "many"}, "NumberOfStudyRelatedSeries"),
        ({"NoSuchKeyword": "x"}, "NoSuchKeyword"),
        ({"0010001G": "x"}, "0010001G"),
        ({"PatientID.CodeValue": "x"}, "PatientID.CodeValue"),
        ({"ProcedureCodeSequence": "x"}, "ProcedureCodeSequence"),
        ({"PixelData": "x"}, "PixelData"),
        ({"includefield": "Nope"}, "includefield"),
        ({"Modality": "CT"}, "Modality"),  # a series key in a study search
        ({"StudyDate": "20240230"}, "StudyDate"),  # eight digits, no day
        ({"StudyDate": "20241301-"}, "StudyDate"),
        ({"TimezoneOffsetFromUTC": "0100"}, "TimezoneOffsetFromUTC"),
        ({"TimezoneOffsetFromUTC": "+2400"}, "TimezoneOffsetFromUTC"),
        ({"00080201": "+01*"}, "TimezoneOffsetFromUTC"),
    ],
)
def test_bad_values_name_their_parameter(params: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidQuery, match=named):
        _parse(**params)


@pytest.mark.parametrize("value", ["20241301", "2024010125-", "-20240101+2500", "0000"])
def test_a_datetime_must_name_a_moment(value: str) -> None:
    with pytest.raises(InvalidQuery, match=r"AcquisitionDateTime: .* is not a date-time"):
        _parse(Level.INSTANCE, AcquisitionDateTime=value)


def test_a_key_given_twice_is_rejected() -> None:
    with pytest.raises(InvalidQuery, match="PatientID"):
        parse_query(Level.STUDY, [("PatientID", "a"), ("PatientID", "b")], max_limit=10)


def test_malformed_path_uid_is_rejected() -> None:
    with pytest.raises(InvalidQuery, match="StudyInstanceUID"):
        parse_query(Level.SERIES, [], max_limit=10, study_instance_uid="1.2;drop")


@pytest.mark.parametrize("key", ["ModalitiesInStudy", "StudyInstanceUID", "Modality"])
@pytest.mark.parametrize("value", ["\\", ",", "\\\\,"])
def test_a_list_of_only_separators_is_refused(key: str, value: str) -> None:
    """Such a list names no value: it would have become ``IN ()`` (a 500)."""
    with pytest.raises(InvalidQuery, match="lists no value"):
        parse_query(Level.SERIES, [(key, value)], max_limit=100)
