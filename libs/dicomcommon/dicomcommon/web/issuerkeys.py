"""The signing keys of an OIDC issuer: found through its discovery document
(``{issuer}/.well-known/openid-configuration`` → ``jwks_uri``), cached, fetched again when a
token names a key we do not know (the issuer rotated its keys), at most once per
``jwks_refresh_min_seconds`` so a stream of forged ``kid`` values cannot flood the issuer.

An issuer that cannot be reached is an outage (``IssuerUnavailable`` → 503 with Retry-After),
not a bad token: known keys keep working meanwhile, and the next attempt heals by itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from dicomcommon.errors import BackendUnavailable
from dicomcommon.settings import AuthSettings

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"


class IssuerUnavailable(BackendUnavailable):
    """The issuer's discovery document or JWKS could not be fetched."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, math.ceil(retry_after_seconds))


class IssuerKeys:
    """``kid`` → public key of one issuer; ``key_for`` refreshes as the module says."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._keys: dict[str, Key] = {}
        self._fetched_at = -math.inf  # monotonic time of the last successful fetch
        self._attempted_at = -math.inf  # ... of the last attempt, failed or not
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> Key | None:
        """The key named ``kid``, or None when the issuer does not publish it (even after a
        refresh, when one is allowed now). Raises ``IssuerUnavailable`` when the key could
        only come from an issuer that cannot be reached; a known key outlives an outage."""
        if kid in self._keys and not self._is_stale():
            return self._keys[kid]
        async with self._lock:  # one fetch for a burst of requests
            if kid not in self._keys or self._is_stale():
                try:
                    await self._refresh()
                except IssuerUnavailable:
                    if kid in self._keys:
                        return self._keys[kid]
                    raise
        return self._keys.get(kid)

    def _is_stale(self) -> bool:
        return time.monotonic() - self._fetched_at > self._settings.jwks_max_age_seconds

    async def _refresh(self) -> None:
        """Fetch the keys unless the last attempt was too recent (then keep what we have)."""
        wait = self._attempted_at + self._settings.jwks_refresh_min_seconds - time.monotonic()
        if wait > 0:
            if not self._keys:
                raise IssuerUnavailable("the token issuer's keys are not available yet", wait)
            return
        self._attempted_at = time.monotonic()
        try:
            keys = await self._fetch()
        except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as exc:
            log.warning("cannot fetch the keys of issuer %s: %s", self._settings.issuer, exc)
            retry = max(1.0, self._settings.jwks_refresh_min_seconds)
            raise IssuerUnavailable("the token issuer cannot be reached", retry) from exc
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("keys of issuer %s: %s", self._settings.issuer, ", ".join(sorted(keys)))

    async def _fetch(self) -> dict[str, Key]:
        issuer = self._settings.issuer.rstrip("/")
        timeout = self._settings.discovery_timeout_seconds
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            discovery = await _get_json(client, issuer + DISCOVERY_PATH)
            jwks = await _get_json(client, str(discovery["jwks_uri"]))
        signing = [k for k in jwks["keys"] if k.get("use", "sig") == "sig" and k.get("kid")]
        keys = KeySet.import_key_set({"keys": signing}).keys
        return {str(key.kid): key for key in keys}


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return body
