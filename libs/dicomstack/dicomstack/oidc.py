"""The local OIDC provider of ``make run ARGS="--auth"`` and the auth tests: a real issuer
process (``dicomstack.oidcserver``) with one user per default role, and the client side that
gets an access token from it the normal OAuth way (authorization-code flow, the provider's
login form posted by hand).

The signing key lives in a file under the data directory: the launcher writes one when there is
none, ``rotate_key`` writes a new one (restart the provider to rotate), and tests read it to
sign tokens the issuer's real key would sign (expired ones, foreign audiences).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc.jwk import RSAKey

from dicomcommon.settings import DEFAULT_ROLE_PERMISSIONS
from dicomstack.processes import ChildProcess, http_ok

AUDIENCE = "dicomweb"
CLIENT_ID = "dicomweb-cli"
# Any redirect URI is accepted by the provider; nothing needs to listen there.
REDIRECT_URI = "http://127.0.0.1/callback"


def default_users() -> dict[str, dict[str, Any]]:
    """One user per default role, named after it (``reader`` holds the role ``reader``)."""
    return {
        role: {"name": f"local {role}", "preferred_username": role, "roles": [role], "groups": []}
        for role in DEFAULT_ROLE_PERMISSIONS
    }


def rotate_key(path: Path) -> str:
    """Write a new RS256 signing key (private JWK) with a fresh ``kid``; that kid."""
    kid = uuid.uuid4().hex[:16]
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(key.as_dict(private=True)))
    path.chmod(0o600)
    return kid


def signing_key(path: Path) -> RSAKey:
    return RSAKey.import_key(json.loads(path.read_text()))


class OidcProvider(ChildProcess):
    """The provider on ``host:port``; healthy once its discovery document answers."""

    def __init__(self, data_dir: Path, log_path: Path, host: str, port: int) -> None:
        self.issuer = f"http://{host}:{port}"
        self.key_path = data_dir / "signing-key.json"
        users = [json.dumps({"sub": sub, **claims}) for sub, claims in default_users().items()]
        argv = [
            sys.executable,
            *("-m", "dicomstack.oidcserver", "--host", host, "--port", str(port)),
            *("--issuer", self.issuer, "--audience", AUDIENCE, "--key-file", str(self.key_path)),
            *(arg for claims in users for arg in ("--user-claims", claims)),
        ]
        health = http_ok(f"{self.issuer}/.well-known/openid-configuration")
        super().__init__("oidc", argv, log_path=log_path, health=health)

    def spawn(self) -> None:
        if not self.key_path.exists():
            rotate_key(self.key_path)
        super().spawn()


def set_user(issuer: str, subject: str, claims: Mapping[str, Any]) -> None:
    """Create or replace a user of the provider (its ``PUT /users/<sub>``)."""
    response = httpx.put(f"{issuer}/users/{subject}", json=dict(claims), timeout=10)
    response.raise_for_status()


def fetch_token(issuer: str, subject: str) -> str:
    """An access token for ``subject``: the authorization-code flow, logging in by posting the
    provider's form, then exchanging the code at the token endpoint."""
    with httpx.Client(base_url=issuer, timeout=10) as client:
        config = client.get("/.well-known/openid-configuration").raise_for_status().json()
        params = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "openid profile",
            "state": uuid.uuid4().hex,
        }
        login = client.post(config["authorization_endpoint"], params=params, data={"sub": subject})
        if login.status_code != 302:
            raise RuntimeError(f"login of {subject} refused: {login.status_code} {login.text}")
        code = parse_qs(urlsplit(login.headers["location"]).query)["code"][0]
        exchanged = client.post(
            config["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": CLIENT_ID,
                "client_secret": "unused",
            },
        )
        exchanged.raise_for_status()
        return str(exchanged.json()["access_token"])
