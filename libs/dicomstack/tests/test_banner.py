"""What ``make run`` prints about authentication: that it is off and loopback-only, or how to
get a token for each default role from the local OIDC provider."""

from __future__ import annotations

from pathlib import Path

from dicomcommon.settings import DEFAULT_ROLE_PERMISSIONS
from dicomstack.__main__ import _summary
from dicomstack.settings import StackSettings
from dicomstack.stack import Stack


def test_banner_without_auth_says_it_serves_unauthenticated_on_loopback(tmp_path: Path) -> None:
    summary = _summary(Stack(StackSettings.ephemeral(tmp_path)))
    assert "authentication    OFF" in summary
    assert "loopback only" in summary


def test_banner_with_auth_prints_a_token_command_per_role(tmp_path: Path) -> None:
    stack = Stack(StackSettings.ephemeral(tmp_path, auth=True))
    summary = _summary(stack)
    assert stack.oidc is not None
    assert f"authentication    ON: bearer tokens of {stack.oidc.issuer}" in summary
    for role in DEFAULT_ROLE_PERMISSIONS:
        assert f"-m dicomstack token --issuer {stack.oidc.issuer} {role}" in summary
