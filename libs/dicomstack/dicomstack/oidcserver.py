"""``python -m dicomstack.oidcserver``: the local OIDC provider process (PyPI
``oidc-provider-mock``), changed in two ways so it behaves like Keycloak or Entra ID towards
our services: its signing key is read from a file the launcher writes (so a restart with a new
file is a key rotation, and tests can sign tokens with the issuer's real key), and its access
tokens are JWTs in RFC 9068's shape (iss, sub, aud, exp, iat, jti, client_id, scope, plus the
user's claims such as roles, groups and name) instead of opaque strings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import oidc_provider_mock
from authlib.jose import JsonWebKey
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

ACCESS_TOKEN_SECONDS = 3600
# Claims of the user that the access token must not take over from the user's record.
_REGISTERED = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"})


def access_token_generator(
    issuer: str, audience: str, key: RSAKey
) -> Any:  # authlib calls it with keywords
    """authlib's ``OAUTH2_ACCESS_TOKEN_GENERATOR``: an RFC 9068 JWT signed with ``key``."""

    def generate(client: Any, grant_type: str, user: Any, scope: str) -> str:
        now = int(time.time())
        claims = {k: v for k, v in user.claims.items() if k not in _REGISTERED}
        claims.update(
            iss=issuer,
            sub=user.sub,
            aud=audience,
            iat=now,
            exp=now + ACCESS_TOKEN_SECONDS,
            jti=uuid.uuid4().hex,
            client_id=client.get_client_id(),
            scope=scope or "",
        )
        header = {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, key)

    return generate


def create_app(
    issuer: str, audience: str, key_file: Path, users: Sequence[oidc_provider_mock.User]
) -> flask.Flask:
    """The provider's Flask app with our key and JWT access tokens; no interactive debugger."""
    private = json.loads(key_file.read_text())
    key = RSAKey.import_key(private)
    app = flask.Flask("dicomstack.oidcserver")
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = access_token_generator(issuer, audience, key)
    oidc_provider_mock.init_app(
        app,
        access_token_max_age=timedelta(seconds=ACCESS_TOKEN_SECONDS),
        user_claims=users,
    )
    app.debug = False
    app.wsgi_app = app.wsgi_app.app  # type: ignore[method-assign,attr-defined]  # drop werkzeug's debugger
    app.secret_key = os.urandom(16)
    authlib_key = JsonWebKey.import_key(private)

    @app.before_request
    def use_our_key() -> None:
        # The provider makes a fresh key per process; ID tokens and /jwks use ours instead.
        flask.g.oidc_provider_mock_storage.jwk = authlib_key

    return app


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dicomstack.oidcserver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--user-claims", action="append", default=[], help="JSON with sub")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _arguments(argv)
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback
    users = []
    for text in arguments.user_claims:
        claims = json.loads(text)
        users.append(oidc_provider_mock.User(sub=claims.pop("sub"), claims=claims))
    app = create_app(arguments.issuer, arguments.audience, arguments.key_file, users)
    make_server(arguments.host, arguments.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
