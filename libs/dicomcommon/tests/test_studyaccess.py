"""The study-groups rule: who sees which studies, and what a store carries."""

from __future__ import annotations

import pytest

from dicomcommon import studyaccess
from dicomcommon.principal import LOCAL, SCOPE_KEY, Permission, Principal
from dicomcommon.settings import StudyGroupsSettings

ON = StudyGroupsSettings(enabled=True, uploader_groups={"modality": ["cardio"]})
OFF = StudyGroupsSettings()
READER = Principal("reader", permissions=frozenset({Permission.READ}), groups=("b", "a", "a"))
ADMIN = Principal("admin", permissions=frozenset({Permission.ADMIN}), groups=("a",))


def test_groups_are_off_by_default_and_then_nobody_is_limited() -> None:
    assert OFF.enabled is False
    assert studyaccess.visible_groups(READER, OFF) is None


def test_a_caller_sees_the_studies_of_its_own_groups() -> None:
    assert studyaccess.visible_groups(READER, ON) == ("a", "b")


def test_admins_and_the_unauthenticated_local_caller_see_every_study() -> None:
    assert studyaccess.visible_groups(ADMIN, ON) is None
    assert studyaccess.visible_groups(LOCAL, ON) is None


def test_a_caller_without_groups_sees_no_study() -> None:
    nobody = Principal("nobody", permissions=frozenset({Permission.READ}))
    assert studyaccess.visible_groups(nobody, ON) == ()
    assert studyaccess.upload(nobody, ON).refused


def test_an_upload_gives_new_studies_the_uploaders_groups_even_while_off() -> None:
    assert studyaccess.upload(READER, OFF) == studyaccess.Upload(("a", "b"), None)
    assert studyaccess.upload(READER, ON) == studyaccess.Upload(("a", "b"), ("a", "b"))
    assert studyaccess.upload(ADMIN, ON) == studyaccess.Upload(("a",), None)


def test_groups_configured_for_an_uploader_replace_its_own_and_admit_it() -> None:
    modality = Principal("modality", permissions=frozenset({Permission.WRITE}), groups=("x",))
    upload = studyaccess.upload(modality, ON)
    assert upload == studyaccess.Upload(("cardio",), ("cardio", "x"))
    assert not upload.refused


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMWEB_AUTH_STUDY_GROUPS_ENABLED", "true")
    monkeypatch.setenv("DICOMWEB_AUTH_STUDY_GROUPS_UPLOADER_GROUPS", '{"ct-1": ["cardio"]}')
    settings = StudyGroupsSettings()
    assert settings.enabled and settings.uploader_groups == {"ct-1": ["cardio"]}


@pytest.mark.parametrize(
    ("study", "caller", "shared"),
    [(("a", "b"), ("b",), True), (("a",), ("b",), False), ((), ("a",), False), (("a",), (), False)],
)
def test_a_study_is_within_reach_when_it_shares_a_group(
    study: tuple[str, ...], caller: tuple[str, ...], shared: bool
) -> None:
    assert studyaccess.shares_group(study, caller) is shared
    assert studyaccess.shares_group_sql("s.access_groups", "$1") == "s.access_groups && $1::text[]"


def test_the_caller_of_a_request_is_the_principal_the_middleware_attached() -> None:
    assert studyaccess.caller_groups({SCOPE_KEY: READER}, ON) == ("a", "b")
    assert studyaccess.caller_groups({SCOPE_KEY: READER}, OFF) is None
    assert studyaccess.caller_groups({}, ON) is None  # no middleware: LOCAL, every study
