"""Who may associate: the allow-list, its address binding, and the loopback default."""

from __future__ import annotations

import json
from pathlib import Path

from dicomcommon.principal import LOCAL, Permission
from dimse.callers import EVERYTHING, CallerPolicy
from dimse.settings import Settings

TABLE: dict[str, dict[str, list[str]]] = {
    "MODALITY1": {"permissions": ["store"], "hosts": ["10.0.0.5"]},
    "PACS": {},
}


def test_loopback_listener_without_a_table_admits_any_calling_ae() -> None:
    policy = CallerPolicy.of(Settings(host="127.0.0.1"))
    assert policy.permissions("ANYONE", "127.0.0.1") == EVERYTHING


def test_listener_off_loopback_without_a_table_admits_nobody() -> None:
    policy = CallerPolicy.of(Settings(host="0.0.0.0"))
    assert policy.permissions("ANYONE", "10.0.0.5") is None


def test_known_calling_ae_is_bound_to_its_hosts() -> None:
    policy = CallerPolicy.of(Settings(host="0.0.0.0", calling_aes=TABLE))
    assert policy.permissions("MODALITY1", "10.0.0.5") == {"store"}
    assert policy.permissions("MODALITY1", "10.0.0.6") is None
    assert policy.permissions("STRANGER", "10.0.0.5") is None


def test_a_table_applies_on_loopback_too_and_hostless_entries_admit_any_address() -> None:
    policy = CallerPolicy.of(Settings(host="127.0.0.1", calling_aes=TABLE))
    assert policy.permissions("ANYONE", "127.0.0.1") is None
    assert policy.permissions("PACS", "192.168.1.9") == EVERYTHING


def test_http_permission_names_grant_their_dimse_operations() -> None:
    table = {"VIEWER": {"permissions": ["read"]}, "ROUTER": {"permissions": ["write", "find"]}}
    policy = CallerPolicy.of(Settings(host="0.0.0.0", calling_aes=table))
    assert policy.permissions("VIEWER", "10.0.0.5") == {"find", "move"}
    assert policy.permissions("ROUTER", "10.0.0.5") == {"store", "find"}


class _Requestor:
    def __init__(self, ae_title: str) -> None:
        self.ae_title = ae_title


class _Association:
    def __init__(self, ae_title: str) -> None:
        self.requestor = _Requestor(ae_title)


def test_a_calling_ae_is_a_principal_with_its_permissions_and_groups() -> None:
    table = {
        "CARDIO_CT": {"permissions": ["store", "find"], "groups": ["cardio"]},
        "ROUTER": {"permissions": ["admin"]},
    }
    policy = CallerPolicy.of(Settings(host="0.0.0.0", calling_aes=table))
    ct = policy.principal(_Association("CARDIO_CT"))
    assert ct.subject == "CARDIO_CT" and ct.groups == ("cardio",)
    assert ct.permissions == {Permission.WRITE, Permission.READ}
    assert policy.principal(_Association("ROUTER")).may(Permission.ADMIN)


def test_without_a_table_on_loopback_the_caller_is_local() -> None:
    policy = CallerPolicy.of(Settings(host="127.0.0.1"))
    assert policy.principal(_Association("ANYONE")) is LOCAL


def test_the_table_may_come_from_a_file_which_wins(tmp_path: Path) -> None:
    table = tmp_path / "calling-aes.json"
    table.write_text(json.dumps(TABLE))
    settings = Settings(host="0.0.0.0", calling_aes={"OTHER": {}}, calling_aes_file=table)
    policy = CallerPolicy.of(settings)
    assert policy.permissions("MODALITY1", "10.0.0.5") == {"store"}
    assert policy.permissions("OTHER", "10.0.0.5") is None
