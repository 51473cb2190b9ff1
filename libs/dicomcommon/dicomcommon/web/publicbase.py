"""The public DICOMweb root clients see, and BulkDataURIs resolved against it.

Ingest stores BulkDataURIs with a ``dicomweb-bulk:`` placeholder (``resources``) instead of a
host, so the index never goes stale when the server moves; every reader (WADO metadata, the
change feed) swaps the placeholder for the base the client reached. Behind a gateway the
request's own host is an internal one, so that base comes from ``X-Forwarded-Host`` /
``-Proto`` / ``-Prefix`` when trusted, else from the public-URL setting.
"""

from __future__ import annotations

from starlette.requests import Request

from dicomcommon.dicom.resources import BULK_URI_PREFIX
from dicomcommon.settings import HttpSettings
from dicomcommon.web.routes import DICOMWEB_ROOT

_PREFIX = BULK_URI_PREFIX.encode()


def public_base(request: Request, http: HttpSettings, trust_forwarded_headers: bool) -> str:
    """``scheme://host[/prefix]/dicom-web`` as the client reached us, without trailing slash."""
    host = request.headers.get("x-forwarded-host") if trust_forwarded_headers else None
    if not host:
        return http.public_base_url.rstrip("/")
    host = host.split(",")[0].strip()
    proto = request.headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    prefix = request.headers.get("x-forwarded-prefix", "").split(",")[0].strip().rstrip("/")
    return f"{proto}://{host}{prefix}{DICOMWEB_ROOT}"


def bulk_replacement(base_url: str) -> bytes:
    """What the placeholder becomes: the base with its trailing slash."""
    return (base_url.rstrip("/") + "/").encode()


def resolve_bulk_uris(dicom_json: bytes, replacement: bytes) -> bytes:
    """Serialized DICOM JSON with every placeholder BulkDataURI made absolute. The text is
    never parsed: every occurrence of the placeholder is rewritten, so a text value that
    itself holds ``dicomweb-bulk:`` is rewritten too (ingest does not escape such values)."""
    return dicom_json.replace(_PREFIX, replacement)
