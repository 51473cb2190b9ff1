"""Syslog transport for DICOM audit messages: RFC 5424 messages over UDP (RFC 5426, one
datagram each), TCP (RFC 6587 octet counting) or TLS (RFC 5425, the same framing), as IHE
ATNA's Record Audit Event (ITI-20) expects.

``DICOMWEB_AUDIT_SYSLOG_URL`` names the receiver: ``udp://host:514``, ``tcp://host:601`` or
``tls://host:6514``. A TCP / TLS connection is opened on first use and again after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from datetime import datetime
from urllib.parse import urlsplit

# PRI = facility * 8 + severity: facility 10 (security/authorization), severity 5 (notice).
_PRI = 10 * 8 + 5
_BOM = b"\xef\xbb\xbf"  # RFC 5424 §6.4: an UTF-8 MSG starts with the byte order mark
_MSGID = "IHE+DICOM"
_DEFAULT_PORTS = {"udp": 514, "tcp": 601, "tls": 6514}
_TIMEOUT = 5.0


def syslog_message(xml: bytes, at: datetime, app_name: str, procid: str = "-") -> bytes:
    """One RFC 5424 message: header, no structured data, the XML as MSG."""
    hostname = socket.gethostname() or "-"
    header = f"<{_PRI}>1 {at.isoformat()} {hostname[:255]} {app_name[:48]} {procid} {_MSGID} -"
    return header.encode("ascii", "replace") + b" " + _BOM + xml


class SyslogSender:
    """One receiver; ``send`` raises ``OSError`` when the message could not be handed over."""

    def __init__(self, url: str) -> None:
        """``url`` as ``AuditSettings`` checked it: ``udp|tcp|tls://host[:port]``."""
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, message: bytes) -> None:
        if self.scheme == "udp":
            await asyncio.to_thread(self._send_datagram, message)
            return
        try:
            writer = await self._connected()
            writer.write(b"%d " % len(message) + message)  # RFC 6587 §3.4.1 octet counting
            await asyncio.wait_for(writer.drain(), _TIMEOUT)
        except (OSError, TimeoutError):
            await self.close()
            raise

    def _send_datagram(self, message: bytes) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, (self.host, self.port))

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        tls = ssl.create_default_context() if self.scheme == "tls" else None
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=tls), _TIMEOUT
        )
        self._writer = writer
        return writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), _TIMEOUT)
            self._writer = None
