"""A WADO scope's WHERE clause: the UIDs of the URL, and with study groups one probe of the
study row; without groups nothing more (no condition, no parameter)."""

from __future__ import annotations

from starlette.requests import Request

from dicomcommon.principal import SCOPE_KEY, Permission, Principal
from dicomcommon.settings import StudyGroupsSettings
from wado.index import Scope

STUDY, SERIES = "1.2.3", "1.2.3.4"


def test_without_groups_only_the_uids_are_matched() -> None:
    sql, values = Scope(STUDY, SERIES).where(first=3)
    assert sql == "study_instance_uid = $3 AND series_instance_uid = $4"
    assert values == [STUDY, SERIES]


def test_groups_add_one_probe_of_the_study_named_by_the_first_parameter() -> None:
    sql, values = Scope(STUDY, SERIES, groups=("cardio",)).where(first=3)
    assert values == [STUDY, SERIES, ["cardio"]]
    assert "access_study.study_instance_uid = $3" in sql
    assert "access_groups && $5::text[]" in sql


def test_a_scope_from_the_path_carries_the_callers_groups() -> None:
    assert Scope.of({"study": STUDY}, ("a",)).groups == ("a",)
    assert Scope.of({"study": STUDY}).groups is None


def test_a_request_names_its_resource_within_the_groups_of_its_caller() -> None:
    caller = Principal("reader", permissions=frozenset({Permission.READ}), groups=("b", "a"))
    scope = {"type": "http", "path_params": {"study": STUDY, "series": SERIES}}
    request = Request({**scope, SCOPE_KEY: caller})
    found = Scope.of_request(request, StudyGroupsSettings(enabled=True))
    assert (found.study, found.series, found.groups) == (STUDY, SERIES, ("a", "b"))
    assert Scope.of_request(request, StudyGroupsSettings()).groups is None
