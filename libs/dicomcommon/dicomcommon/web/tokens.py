"""Bearer token → ``Principal``: the JWT's signature checked against the issuer's key (joserfc),
then issuer, audience, expiry and not-before with the configured clock skew; its roles mapped to
permissions and its groups kept for study-level access.

Only asymmetric algorithms are accepted, and only the one its key allows (the key's own ``alg``,
else its key type's family), so ``alg=none`` and an HS256 token "signed" with the public key
never reach a signature check. A verified token is kept in a bounded LRU until it expires, so a
client's next requests cost a dictionary look-up instead of an RSA verification.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError
from joserfc.jwk import Key

from dicomcommon.principal import Permission, Principal
from dicomcommon.settings import AuthSettings
from dicomcommon.web.issuerkeys import IssuerKeys

# The signature algorithms of each asymmetric key type (RFC 7518 §3.1, RFC 8037 §3.1).
_ALGORITHMS_OF_KEY_TYPE = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA", "Ed25519"}),
}
_ASYMMETRIC = frozenset().union(*_ALGORITHMS_OF_KEY_TYPE.values())


class InvalidToken(Exception):
    """Why a token is refused; the text goes into ``WWW-Authenticate``'s error_description."""


def role_permissions(settings: AuthSettings) -> dict[str, frozenset[Permission]]:
    """The roles → permissions map: ``DICOMWEB_AUTH_ROLE_PERMISSIONS_FILE`` (a JSON object) if
    set, else ``DICOMWEB_AUTH_ROLE_PERMISSIONS``; an unknown permission name is an error."""
    mapping: Any = settings.role_permissions
    if settings.role_permissions_file is not None:
        mapping = json.loads(settings.role_permissions_file.read_text())
    if not isinstance(mapping, dict):
        raise ValueError("role permissions must be a JSON object of role -> [permission, ...]")
    return {
        str(role): frozenset(Permission(p) for p in granted) for role, granted in mapping.items()
    }


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path into nested objects (Keycloak's
    ``realm_access.roles``); a claim whose own name holds dots wins."""
    if path in claims:
        return claims[path]
    found: Any = claims
    for step in path.split("."):
        if not isinstance(found, Mapping):
            return None
        found = found.get(step)
    return found


def _names(value: Any) -> tuple[str, ...]:
    """A claim holding one name, space-separated names, or a list of names."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return tuple(str(item) for item in value if isinstance(item, str | int))
    return ()


class TokenVerifier:
    """Verifies bearer tokens of one issuer for one service; caches what it verified."""

    def __init__(self, settings: AuthSettings, keys: IssuerKeys | None = None) -> None:
        self._settings = settings
        self._keys = keys or IssuerKeys(settings)
        self._roles = role_permissions(settings)
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._claims = jwt.JWTClaimsRegistry(
            leeway=int(settings.clock_skew_seconds),
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "values": list(settings.audiences)},
            exp={"essential": True},
            sub={"essential": True},
        )

    async def verify(self, token: str) -> Principal:
        """The caller this token names; ``InvalidToken`` when it must be refused."""
        cached = self._cache.get(token)
        if cached is not None:
            expires, principal = cached
            if time.time() < expires:
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        claims = await self._verified_claims(token)
        principal = self.principal(claims)
        self._remember(token, float(claims["exp"]) + self._settings.clock_skew_seconds, principal)
        return principal

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        roles = _names(claim_at(claims, self._settings.roles_claim))
        granted = frozenset().union(*(self._roles.get(role, frozenset()) for role in roles))
        name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
        return Principal(
            subject=str(claims["sub"]),
            name=str(name),
            permissions=granted,
            groups=_names(claim_at(claims, self._settings.groups_claim)),
            claims=claims,
        )

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise InvalidToken("the token is not a signed JWT") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in _ASYMMETRIC:
            raise InvalidToken(f"signature algorithm {algorithm!r} is not accepted")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no signing key (kid)")
        key = await self._keys.key_for(kid)
        if key is None:
            raise InvalidToken(f"the issuer publishes no key {kid!r}")
        if algorithm not in _algorithms_of(key):
            raise InvalidToken(f"key {kid!r} does not sign with {algorithm}")
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm]).claims
            self._claims.validate(claims)
        except ExpiredTokenError as exc:
            raise InvalidToken("the token has expired") from exc
        except BadSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except JoseError as exc:
            raise InvalidToken(str(exc.description or exc.error).rstrip(".")) from exc
        return claims

    def _remember(self, token: str, expires: float, principal: Principal) -> None:
        self._cache[token] = (expires, principal)
        if len(self._cache) > self._settings.token_cache_size:
            self._cache.popitem(last=False)


def _algorithms_of(key: Key) -> frozenset[str]:
    declared = key.alg
    family = _ALGORITHMS_OF_KEY_TYPE.get(key.key_type, frozenset())
    return frozenset({declared}) & family if declared else family
