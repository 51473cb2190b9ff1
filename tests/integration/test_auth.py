"""Authentication and authorization against the real stack with a real OIDC provider process:
every route of the routes table, through the gateway and straight to its service's port, with
no token, each kind of bad token, a token lacking the route's permission and one holding it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from dicomcommon.principal import Permission
from dicomcommon.web.routes import ALL_SERVICES, ROUTES, Route
from dicomstack.stack import Stack
from tests.tokens import BAD_TOKENS, token_for

pytestmark = pytest.mark.integration

STUDY = "1.2.826.0.1.3680043.8.498.10"
SERIES = "1.2.826.0.1.3680043.8.498.11"
INSTANCE = "1.2.826.0.1.3680043.8.498.12"
# One request per routes-table entry (a new entry without an example fails the test below).
EXAMPLES = {
    "stow": ("POST", "/dicom-web/studies"),
    "qido": ("GET", "/dicom-web/studies?limit=1"),
    "changefeed": ("GET", "/dicom-web/changefeed?limit=1"),
    "wado-rs": ("GET", f"/dicom-web/studies/{STUDY}/metadata"),
    "wado-uri": (
        "GET",
        f"/wado?requestType=WADO&studyUID={STUDY}&seriesUID={SERIES}&objectUID={INSTANCE}",
    ),
    "delete": ("DELETE", f"/dicom-web/studies/{STUDY}"),
    "study-access": ("GET", f"/dicom-web/studies/{STUDY}/access"),
    "health": ("GET", "/healthz"),
    "orphans-sweep": ("POST", "/orphans/sweep?older_than=1000000000"),
    "parked-commands": ("GET", "/parked?limit=1"),
    "audit": ("GET", "/dicom-web/audit?limit=1"),
    "extended-query-tags": ("GET", "/dicom-web/extendedquerytags?limit=1"),
    "operations": ("GET", f"/dicom-web/operations/{'0' * 32}"),
    "viewer": ("GET", "/viewer/"),
    "viewer-files": ("GET", "/viewer/app-config.js"),
    **{f"{s}-probes": ("GET", "/healthz") for s in ALL_SERVICES},
}
# Users of the local provider (one per default role, plus one holding no role).
HOLDING = {
    Permission.READ: "reader",
    Permission.WRITE: "writer",
    Permission.DELETE: "deleter",
    Permission.ADMIN: "admin",
}
LACKING = {
    Permission.READ: "nobody",
    Permission.WRITE: "reader",
    Permission.DELETE: "writer",
    Permission.ADMIN: "deleter",
}


@pytest.fixture(scope="module")
def tokens(auth_stack: Stack) -> dict[str, str]:
    found = {user: token_for(auth_stack, user) for user in ("reader", "writer", "deleter", "admin")}
    found["nobody"] = token_for(auth_stack, "nobody", name="No Role", roles=[])
    return found


@pytest.fixture(scope="module")
def bad_tokens(auth_stack: Stack) -> dict[str, str]:
    return {kind: make(auth_stack) for kind, make in BAD_TOKENS.items()}


def _targets(stack: Stack, route: Route) -> list[tuple[str, str]]:
    """(how, URL): through the gateway (public routes) and straight to the service."""
    path = EXAMPLES[route.name][1]
    direct = stack.service_urls[route.service][0] + (route.rewrite_path or path)
    found = [("direct", direct)]
    if not route.internal:
        found.append(("gateway", stack.gateway_url + path))
    return found


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:  # kept-alive: a few hundred requests here
        yield client


def _call(http: httpx.Client, method: str, url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.request(method, url, headers=headers)


def test_every_route_has_an_example() -> None:
    assert {r.name for r in ROUTES} == set(EXAMPLES)


def _problems(
    http: httpx.Client,
    route: Route,
    url: str,
    tokens: dict[str, str],
    bad_tokens: dict[str, str],
) -> list[str]:
    """What this route does wrong for each kind of caller (empty: all as it should be)."""
    method = EXAMPLES[route.name][0]
    problems = []

    def expect(case: str, token: str | None, wanted: set[int], challenge: str) -> None:
        response = _call(http, method, url, token)
        if wanted and response.status_code not in wanted:
            problems.append(f"{case}: {response.status_code} {response.text[:120]}")
        elif not wanted and response.status_code in (401, 403):
            problems.append(f"{case}: refused {response.status_code} {response.text[:120]}")
        elif challenge and challenge not in response.headers.get("www-authenticate", ""):
            problems.append(f"{case}: WWW-Authenticate {response.headers.get('www-authenticate')}")

    if route.permission is Permission.PUBLIC:  # never refused, whatever the token (the
        # viewer's files answer 404 where npm was missing at install; probes answer 200)
        for case, token in [("no token", None), *bad_tokens.items()]:
            expect(case, token, set(), "")
        return problems
    expect("no token", None, {401}, 'Bearer realm="dicomweb"')
    for kind, token in bad_tokens.items():
        expect(kind, token, {401}, 'error="invalid_token"')
    expect("lacking", tokens[LACKING[route.permission]], {403}, 'error="insufficient_scope"')
    expect("holding", tokens[HOLDING[route.permission]], set(), "")
    return problems


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_route_refuses_every_caller_without_its_permission(
    auth_stack: Stack,
    http: httpx.Client,
    route: Route,
    tokens: dict[str, str],
    bad_tokens: dict[str, str],
) -> None:
    for how, url in _targets(auth_stack, route):
        problems = _problems(http, route, url, tokens, bad_tokens)
        assert not problems, f"{how} {url}:\n" + "\n".join(problems)


def test_a_missing_token_gets_a_challenge_without_an_error_code(auth_stack: Stack) -> None:
    """RFC 6750 §3.1: no error code when the request carried no authentication at all."""
    response = httpx.get(f"{auth_stack.dicomweb_url}/studies", timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="dicomweb"'


def test_cors_preflight_needs_no_token(auth_stack: Stack) -> None:
    for url in (f"{auth_stack.dicomweb_url}/studies", auth_stack.service_urls["qido"][0]):
        response = httpx.options(
            url,
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
            timeout=10,
        )
        assert response.status_code not in (401, 403), (url, response.status_code)


def test_a_path_outside_the_routes_table_is_refused(
    auth_stack: Stack, http: httpx.Client, tokens: dict[str, str]
) -> None:
    url = f"{auth_stack.service_urls['indexer'][0]}/stack/unlisted"
    assert _call(http, "GET", url, tokens["admin"]).status_code == 404
    assert _call(http, "GET", url, None).status_code == 404


def test_a_refused_request_carries_its_request_id(auth_stack: Stack) -> None:
    response = httpx.get(
        f"{auth_stack.dicomweb_url}/studies", headers={"X-Request-ID": "auth-refusal"}, timeout=10
    )
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "auth-refusal"


def test_the_token_command_make_run_prints_gets_a_working_token(auth_stack: Stack) -> None:
    issuer = auth_stack.oidc.issuer if auth_stack.oidc else ""
    command = [sys.executable, "-m", "dicomstack", "token", "--issuer", issuer, "reader"]
    token = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    response = httpx.get(
        f"{auth_stack.dicomweb_url}/studies?limit=1",
        headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        timeout=10,
    )
    assert response.status_code in (200, 204)
