"""Who the client is and which name it used: ``X-Forwarded-*`` only from trusted proxies, and
a Host allow-list against DNS rebinding.

``X-Forwarded-For`` / ``-Proto`` / ``-Host`` / ``-Prefix`` (and ``Forwarded``) are believed
only when the peer is in ``DICOMWEB_HTTP_TRUSTED_PROXIES``; from any other peer they are removed
before anything reads the request, so a client cannot forge its audited address or the URLs
the server writes. The client address is then the right-most ``X-Forwarded-For`` entry that is
not itself a trusted proxy.

DNS rebinding lets a web page reach a server on loopback under the attacker's own host name;
refusing unknown ``Host`` values (400) stops it. ``DICOMWEB_HTTP_ALLOWED_HOSTS`` lists the
names (``*.example.org`` allowed; ``*`` turns the check off). Left empty, a service bound to
loopback accepts the loopback names plus its public base URL's host, and a service bound
elsewhere accepts any name: it is not reachable by rebinding a browser's loopback, and off
loopback authentication guards it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dicomcommon.settings import HttpSettings

_FORWARDED = (b"x-forwarded-", b"forwarded")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    if host.strip("[]") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(http: HttpSettings) -> list[str]:
    """The configured names, else the default described in the module docstring."""
    if http.allowed_hosts:
        return [h.lower() for h in http.allowed_hosts]
    if not is_loopback(http.host):
        return ["*"]
    public = (urlsplit(http.public_base_url).hostname or "").lower()
    return [*LOOPBACK_NAMES, *([public] if public else [])]


class ForwardedHeaders:
    """ASGI middleware: the real client and scheme behind a trusted proxy; forwarded headers of
    anyone else removed."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.trusted: list[Network] = [ipaddress.ip_network(t, strict=False) for t in trusted]
        # Every request asks this of its peer (a few proxy addresses): the answer is kept.
        self._trusts = functools.lru_cache(maxsize=1024)(self._judge)

    def _judge(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        peer = scope.get("client")
        if peer and self._trusts(peer[0]):
            self._believe(scope)
        else:
            scope["headers"] = [h for h in scope["headers"] if not h[0].startswith(_FORWARDED)]
        await self.app(scope, receive, send)

    def _believe(self, scope: Scope) -> None:
        headers = dict(scope["headers"])
        chain = [
            a.strip() for a in headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
        ]
        for address in reversed([a for a in chain if a]):
            if not self._trusts(address):
                scope["client"] = (address, 0)
                break
        proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip()
        if proto in ("http", "https"):
            scope["scheme"] = proto


class TrustedHosts:
    """ASGI middleware: 400 for a ``Host`` not in the allow-list (``*`` allows any)."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in hosts
        self.exact = {h for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def allows(self, host_header: str) -> bool:
        name = _hostname(host_header)
        return self.any or name in self.exact or (bool(name) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if self.allows(host):
            await self.app(scope, receive, send)
            return
        refusal = JSONResponse({"error": f"Host {host[:100]!r} is not served here"}, 400)
        await refusal(scope, receive, send)


def _hostname(host_header: str) -> str:
    """``name:port``, ``[v6]:port`` or ``name`` → the name, lower-case, without brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
