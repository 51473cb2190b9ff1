"""Who may call what, checked in every HTTP service (not only at the gateway, so a service
reached directly refuses too).

``Authentication`` finds the request's entry in the routes table and requires its permission:
no entry → 404 (deny by default); a public entry → through; otherwise the bearer token must
verify (401 with ``WWW-Authenticate``, RFC 6750 §3) and grant the permission (403,
``insufficient_scope``). An issuer that cannot be reached is a 503 with Retry-After. CORS
pre-flights (``OPTIONS``) carry no token and pass. With authentication off the caller is
``LOCAL``, which ``startup_problem`` allows on loopback only unless asked for explicitly.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomcommon.principal import LOCAL, SCOPE_KEY, Permission, Principal
from dicomcommon.settings import AuthSettings
from dicomcommon.web.issuerkeys import IssuerUnavailable
from dicomcommon.web.routes import Route, RouteFinder
from dicomcommon.web.tokens import InvalidToken, TokenVerifier, role_permissions

log = logging.getLogger(__name__)

# The caller of a public route (health) while authentication is on: no permission at all.
ANONYMOUS = Principal(subject="anonymous", name="anonymous", authenticated=False)
_AUTHORIZATION = b"authorization"


def startup_problem(auth: AuthSettings, host: str) -> str | None:
    """Why a service must not start with these settings (one line), or None."""
    if auth.enabled:
        missing = [
            name
            for name, value in (("ISSUER", auth.issuer), ("AUDIENCES", auth.audiences))
            if not value
        ]
        if missing:
            names = " and ".join(f"DICOMWEB_AUTH_{name}" for name in missing)
            return f"DICOMWEB_AUTH_ENABLED=true needs {names}"
        try:
            role_permissions(auth)
        except (OSError, ValueError) as exc:
            return f"bad DICOMWEB_AUTH_ROLE_PERMISSIONS(_FILE): {exc}".replace("\n", " ")
        return None
    if not is_loopback(host) and not auth.allow_unauthenticated:
        return (
            f"authentication is off and DICOMWEB_HTTP_HOST={host} is not loopback: configure "
            "DICOMWEB_AUTH_ENABLED, _ISSUER and _AUDIENCES, or set "
            "DICOMWEB_AUTH_ALLOW_UNAUTHENTICATED=true to serve without authentication"
        )
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Authentication:
    """ASGI middleware: puts the caller in ``scope[SCOPE_KEY]`` or answers the refusal."""

    def __init__(
        self, app: ASGIApp, table: tuple[Route, ...], settings: AuthSettings | None
    ) -> None:
        self.app = app
        self.routes = RouteFinder(table)
        self.settings = settings if settings is not None and settings.enabled else None
        if self.settings is not None:
            problem = startup_problem(self.settings, "127.0.0.1")
            if problem:
                raise ValueError(problem)
        self.verifier = TokenVerifier(self.settings) if self.settings else None
        self.realm = settings.realm if settings else "dicomweb"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route of the table is one: refused (policy)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":  # CORS pre-flights come without credentials
            scope[SCOPE_KEY] = LOCAL if self.verifier is None else ANONYMOUS
            await self.app(scope, receive, send)
            return
        route = self.routes.find(scope["method"], scope["path"])
        if route is None:
            response = JSONResponse({"error": "no such resource"}, status_code=404)
            await response(scope, receive, send)
            return
        if self.verifier is None:
            scope[SCOPE_KEY] = LOCAL
        elif route.permission is Permission.PUBLIC:
            scope[SCOPE_KEY] = ANONYMOUS
        else:
            principal = await self._authenticate(scope, receive, send)
            if principal is None:
                return
            if not principal.may(route.permission):
                description = f"this operation needs the {route.permission.value} permission"
                await self._refuse(scope, receive, send, 403, "insufficient_scope", description)
                return
            scope[SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> Principal | None:
        """The verified caller, or None after answering the refusal."""
        assert self.verifier is not None
        token = _bearer_token(scope)
        if token is None:
            await self._refuse(scope, receive, send, 401, None, "a bearer token is required")
            return None
        try:
            return await self.verifier.verify(token)
        except InvalidToken as exc:
            await self._refuse(scope, receive, send, 401, "invalid_token", str(exc))
        except IssuerUnavailable as exc:
            headers = {"Retry-After": str(exc.retry_after_seconds)}
            response = JSONResponse({"error": exc.message}, status_code=503, headers=headers)
            await response(scope, receive, send)
        return None

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        error: str | None,
        description: str,
    ) -> None:
        """RFC 6750 §3: a request without a token gets the challenge without an error code."""
        challenge = f'Bearer realm="{self.realm}"'
        if error is not None:
            # RFC 6750 §3: printable ASCII but '"' and '\\' (a forged kid may hold anything).
            quoted = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in description)
            challenge += f', error="{error}", error_description="{quoted}"'
        headers = {"WWW-Authenticate": challenge}
        response = JSONResponse({"error": description}, status_code=status, headers=headers)
        await response(scope, receive, send)


def _bearer_token(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == _AUTHORIZATION:
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
