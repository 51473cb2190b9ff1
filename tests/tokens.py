"""Tokens for the authentication tests: real ones from the local OIDC provider, and each kind of
bad token a service must refuse, signed (where a signature is the point) with the issuer's real
key read from the file the launcher wrote."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from dicomstack import oidc
from dicomstack.stack import Stack


def issuer_of(stack: Stack) -> oidc.OidcProvider:
    assert stack.oidc is not None, "this stack runs without authentication"
    return stack.oidc


def token_for(stack: Stack, subject: str, **claims: Any) -> str:
    """A provider-issued access token; ``claims`` (roles, groups, …) replace the user's."""
    provider = issuer_of(stack)
    if claims:
        oidc.set_user(provider.issuer, subject, claims)
    return oidc.fetch_token(provider.issuer, subject)


def _claims(stack: Stack, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer_of(stack).issuer,
        "sub": "admin",
        "aud": oidc.AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "roles": ["admin"],
    }
    return {**claims, **overrides}


def signed(stack: Stack, **overrides: Any) -> str:
    """A token signed by the issuer's real key, with the given claims changed."""
    key = oidc.signing_key(issuer_of(stack).key_path)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, _claims(stack, **overrides), key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(stack: Stack) -> str:
    """``alg=none``: a header and claims with an empty signature (RFC 7519 §6)."""
    kid = oidc.signing_key(issuer_of(stack).key_path).kid
    header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(_claims(stack)).encode())}."


def hs256_with_public_key(stack: Stack) -> str:
    """The algorithm-confusion attack: HMAC keyed with the issuer's published public key (forged
    with ``hmac`` here, as an attacker would: joserfc itself refuses such a key)."""
    key = oidc.signing_key(issuer_of(stack).key_path)
    header = _b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    signing_input = f"{header}.{_b64(json.dumps(_claims(stack)).encode())}"
    digest = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(digest.digest())}"


def tampered(stack: Stack) -> str:
    """A valid token with one claim changed after signing (its signature no longer verifies)."""
    header, payload, signature = signed(stack, roles=["reader"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


@functools.cache
def _stranger() -> RSAKey:
    return RSAKey.generate_key(2048)


def unknown_kid(stack: Stack) -> str:
    """Signed by a key the issuer never published, under a new key id each time."""
    kid = f"stranger-{uuid.uuid4().hex[:8]}"
    return jwt.encode({"alg": "RS256", "kid": kid}, _claims(stack), _stranger())


BAD_TOKENS: dict[str, Callable[[Stack], str]] = {
    "expired": lambda s: signed(s, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "wrong issuer": lambda s: signed(s, iss="https://issuer.example"),
    "wrong audience": lambda s: signed(s, aud="another-api"),
    "alg none": unsigned,
    "hs256 with the public key": hs256_with_public_key,
    "tampered": tampered,
    "unknown kid": unknown_kid,
    "not a jwt": lambda s: "opaque-token-value",
}
