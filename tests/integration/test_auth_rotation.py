"""The issuer rotates its key, or goes away, while the services run: a token naming a new key
is accepted once the services fetch the issuer's keys again (no restart), one naming a key the
issuer dropped is refused, and while the issuer is down a key we cannot look up is a 503 with
Retry-After while tokens of keys already known still work."""

from __future__ import annotations

import time

import httpx
import pytest

from dicomstack import oidc
from dicomstack.stack import Stack
from tests.polling import eventually
from tests.tokens import issuer_of, signed, token_for, unknown_kid

pytestmark = pytest.mark.integration


def _search(stack: Stack, token: str) -> httpx.Response:
    url = f"{stack.service_urls['qido'][0]}/dicom-web/studies?limit=1"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _found(response: httpx.Response) -> bool:
    return response.status_code in (200, 204)  # 204: no study matched


def _jwks_fetches(stack: Stack) -> int:
    """How often the provider served its JWKS (its request log has a line per request)."""
    log = stack.component("oidc").log_path.read_text(errors="replace")
    return sum("GET /jwks" in line for line in log.splitlines())


def test_unknown_keys_refresh_the_issuer_keys_at_most_once_per_interval(auth_stack: Stack) -> None:
    """A burst of tokens naming keys nobody published (forged kids) costs the issuer at most
    one JWKS fetch per refresh interval (one second in this stack), not one per request."""
    forged = [unknown_kid(auth_stack) for _ in range(20)]
    time.sleep(1.2)
    before = _jwks_fetches(auth_stack)
    started = time.monotonic()
    refused = [_search(auth_stack, token).status_code for token in forged]
    elapsed = time.monotonic() - started
    assert set(refused) == {401}
    time.sleep(0.5)  # the provider writes its log line after answering
    assert 1 <= _jwks_fetches(auth_stack) - before <= 2 + int(elapsed)


def test_key_rotation_and_issuer_outage_without_restarting_a_service(auth_stack: Stack) -> None:
    provider = issuer_of(auth_stack)
    services = {name: auth_stack.component(name).pid for name in ("qido", "wado", "stow")}
    assert _found(_search(auth_stack, token_for(auth_stack, "reader")))

    auth_stack.stop_component("oidc")
    time.sleep(1.2)  # past the services' one-second refresh limit of this stack
    assert _found(_search(auth_stack, signed(auth_stack, roles=["reader"])))
    outage = _search(auth_stack, unknown_kid(auth_stack))
    assert outage.status_code == 503, outage.text
    assert int(outage.headers["retry-after"]) >= 1

    signed_with_old_key = signed(auth_stack, roles=["reader"])
    oidc.rotate_key(provider.key_path)
    auth_stack.start_component("oidc")
    rotated = token_for(auth_stack, "reader")
    assert eventually(lambda: _found(_search(auth_stack, rotated)), seconds=10)
    time.sleep(1.2)
    dropped = _search(auth_stack, signed_with_old_key)
    assert dropped.status_code == 401
    assert "invalid_token" in dropped.headers["www-authenticate"]
    assert {name: auth_stack.component(name).pid for name in services} == services
