"""One DICOMweb server as the command line reaches it: its root, a bearer token, and the
one-line errors a person can act on (server down, 401, 403, 413) instead of tracebacks.

Every command speaks through an aiohttp session made here: the same client the bench times,
so an upload costs the machine as little client CPU as the bench's own STOW client does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

DEFAULT_URL = "http://127.0.0.1:8080/dicom-web"


class CommandError(Exception):
    """Ends the command with its message on one line and a non-zero exit."""


@dataclass(frozen=True)
class Server:
    """Where requests go and how they identify the caller."""

    url: str = DEFAULT_URL
    token: str | None = None

    @property
    def root(self) -> str:
        return self.url.rstrip("/")

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def session(self, connections: int = 8) -> aiohttp.ClientSession:
        """A keep-alive session; ``connections`` bounds the sockets it opens to the server.
        No overall timeout: a large upload or download takes as long as it takes; each wait
        for a connection or between reads is bounded instead."""
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
        waits = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
        return aiohttp.ClientSession(connector=connector, timeout=waits)


def refusal(server: Server, status: int, body: str = "") -> CommandError | None:
    """The one-line error for an answer no retry will change, or None for any other."""
    detail = _first_line(body)
    if status == 401:
        hint = (
            "the server refused the token (expired, or for another audience)"
            if server.token
            else "the server needs a token: pass --token or set DICOMWEB_TOKEN"
        )
        return CommandError(f"401 Unauthorized from {server.root}: {hint}")
    if status == 403:
        return CommandError(
            f"403 Forbidden from {server.root}: the token lacks the permission for this"
            + (f" ({detail})" if detail else "")
        )
    if status == 413:
        return CommandError(
            f"413 Payload Too Large from {server.root}: the server refuses requests this big; "
            "lower --batch-size / --batch-mb" + (f" ({detail})" if detail else "")
        )
    return None


def unexpected(server: Server, status: int, body: str) -> CommandError:
    """Any other answer a command cannot use, with the start of the server's explanation."""
    known = refusal(server, status, body)
    if known is not None:
        return known
    detail = _first_line(body)
    return CommandError(f"HTTP {status} from {server.root}" + (f": {detail}" if detail else ""))


def unreachable(server: Server, exc: BaseException) -> CommandError:
    """The server does not answer at all (down, wrong port or host, TLS trouble)."""
    reason = str(exc) or type(exc).__name__
    return CommandError(
        f"cannot reach {server.root}: {reason} (is the server running? `make run` starts ours; "
        "--url or DICOMWEB_URL names another)"
    )


def _first_line(body: str) -> str:
    line = body.strip().splitlines()[0] if body.strip() else ""
    return line[:200]


TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
