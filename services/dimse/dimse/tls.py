"""DICOM TLS (PS3.15 Annex B, the BCP 195 profile of B.9): the SSL contexts of the listener and
of the associations this archive opens (C-MOVE destinations, storage commitment answers).

TLS 1.2 or later only. The listener presents ``tls_cert_file`` / ``tls_key_file``; with
``tls_ca_file`` it checks the peer's certificate when one is offered, and requires one with
``tls_require_client_cert``. Outgoing associations check the peer against ``tls_ca_file`` (the
system's CAs without one) and present our certificate, for peers that require one.
"""

from __future__ import annotations

import ssl

from dimse.settings import Settings


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The listener's context; None when TLS is off (no certificate configured)."""
    if settings.tls_cert_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_ca_file is not None:
        context.load_verify_locations(settings.tls_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    if settings.tls_require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(settings: Settings) -> ssl.SSLContext:
    """The context of associations we open to peers marked ``tls`` in ``remote_aes``."""
    context = ssl.create_default_context(cafile=settings.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.tls_cert_file is not None:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context
