"""The parts of authentication that need no issuer: safe-start rules, claims → principal,
the roles → permissions map, deny-by-default with authentication off, the verified-token cache.
Signed tokens against a real issuer are tested in tests/integration/test_auth.py."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from dicomcommon.principal import LOCAL, Permission, Principal, principal_of
from dicomcommon.settings import AuthSettings
from dicomcommon.web.auth import startup_problem
from dicomcommon.web.routes import Route
from dicomcommon.web.tokens import TokenVerifier, claim_at, role_permissions
from dicomcommon.web.webapp import create_service_app

ENABLED = AuthSettings(enabled=True, issuer="https://issuer.example", audiences=["dicomweb"])


@pytest.mark.parametrize(
    ("settings", "host", "refused"),
    [
        (AuthSettings(enabled=True, audiences=["dicomweb"]), "127.0.0.1", "DICOMWEB_AUTH_ISSUER"),
        (AuthSettings(enabled=True, issuer="https://i"), "0.0.0.0", "DICOMWEB_AUTH_AUDIENCES"),
        (AuthSettings(), "0.0.0.0", "not loopback"),
        (AuthSettings(), "10.1.2.3", "not loopback"),
        (AuthSettings(allow_unauthenticated=True), "0.0.0.0", None),
        (AuthSettings(), "127.0.0.1", None),
        (AuthSettings(), "::1", None),
        (AuthSettings(), "localhost", None),
        (ENABLED, "0.0.0.0", None),
    ],
)
def test_start_is_refused_for_half_configuration_or_unauthenticated_non_loopback(
    settings: AuthSettings, host: str, refused: str | None
) -> None:
    problem = startup_problem(settings, host)
    assert (problem is None) if refused is None else (refused in (problem or ""))


def test_a_service_refuses_to_start_with_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMWEB_")}
    env.update(DICOMWEB_HTTP_HOST="0.0.0.0", DICOMWEB_HTTP_PORT="1")
    done = subprocess.run(
        [sys.executable, "-m", "qido"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("qido: refusing to start:") and "ALLOW_UNAUTHENTICATED" in line


def test_audiences_come_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMWEB_AUTH_AUDIENCES", "dicomweb, api://dicom")
    assert AuthSettings().audiences == ["dicomweb", "api://dicom"]


def test_roles_may_sit_at_a_dotted_path_as_keycloak_puts_them() -> None:
    settings = ENABLED.model_copy(update={"roles_claim": "realm_access.roles"})
    claims = {"sub": "u1", "preferred_username": "ann", "realm_access": {"roles": ["writer"]}}
    principal = TokenVerifier(settings).principal(claims)
    assert principal.permissions == {Permission.READ, Permission.WRITE}
    assert (principal.subject, principal.name) == ("u1", "ann")


def test_a_claim_whose_name_has_dots_wins_over_the_path() -> None:
    assert claim_at({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert claim_at({"a": {"b": 2}}, "a.b") == 2
    assert claim_at({"a": "x"}, "a.b") is None


def test_roles_and_groups_may_be_a_string_or_a_list() -> None:
    verifier = TokenVerifier(ENABLED)
    one = verifier.principal({"sub": "s", "roles": "deleter", "groups": "cardiology"})
    assert one.permissions == {Permission.READ, Permission.DELETE}
    assert one.groups == ("cardiology",)
    many = verifier.principal({"sub": "s", "name": "N", "roles": ["reader", "unknown"]})
    assert many.permissions == {Permission.READ} and many.groups == () and many.name == "N"
    assert verifier.principal({"sub": "s"}).permissions == frozenset()


def test_role_permissions_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "roles.json"
    path.write_text(json.dumps({"radiologist": ["read", "write"], "ops": ["admin"]}))
    settings = ENABLED.model_copy(update={"role_permissions_file": path})
    assert role_permissions(settings) == {
        "radiologist": {Permission.READ, Permission.WRITE},
        "ops": {Permission.ADMIN},
    }
    path.write_text(json.dumps({"x": ["everything"]}))
    with pytest.raises(ValueError, match="everything"):
        role_permissions(settings)
    assert "everything" in (startup_problem(settings, "127.0.0.1") or "")
    missing = settings.model_copy(update={"role_permissions_file": tmp_path / "absent.json"})
    assert "absent.json" in (startup_problem(missing, "127.0.0.1") or "")


async def _whoami(request: Request) -> Response:
    principal = principal_of(request.scope)
    return JSONResponse({"subject": principal.subject, "local": principal is LOCAL})


def _client(auth: AuthSettings | None) -> httpx.AsyncClient:
    table = [Route("who", "test", ("GET",), r"^/who$", 1, Permission.READ)]
    routes = [
        StarletteRoute("/who", _whoami),
        StarletteRoute("/unlisted", _whoami),
    ]
    app = create_service_app("test", routes, cors=None, auth=auth, table=table)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


async def test_with_authentication_off_the_caller_is_local_and_unlisted_paths_refused() -> None:
    async with _client(None) as client:
        who = await client.get("/who")
        assert who.json() == {"subject": "anonymous", "local": True}
        assert (await client.get("/unlisted")).status_code == 404
        assert (await client.get("/healthz")).status_code == 404  # not in this test's table


async def test_with_authentication_on_a_request_without_token_is_challenged() -> None:
    async with _client(ENABLED) as client:
        response = await client.get("/who")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="dicomweb"'
        basic = await client.get("/who", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic.status_code == 401


async def test_a_verified_token_is_checked_again_in_well_under_a_tenth_of_a_millisecond() -> None:
    verifier = TokenVerifier(ENABLED)
    principal = Principal(subject="s", permissions=frozenset({Permission.READ}))
    verifier._remember("token", time.time() + 600, principal)
    timings = []
    for _ in range(2000):
        started = time.perf_counter()
        assert await verifier.verify("token") is principal
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.0001


async def test_the_verified_token_cache_is_bounded() -> None:
    verifier = TokenVerifier(ENABLED.model_copy(update={"token_cache_size": 3}))
    for n in range(10):
        verifier._remember(f"t{n}", time.time() + 600, Principal(subject=str(n)))
    assert list(verifier._cache) == ["t7", "t8", "t9"]
