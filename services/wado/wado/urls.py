"""The public DICOMweb root clients see, for BulkDataURIs and Content-Locations.

Behind a gateway the request's own host is an internal one, so the external base comes from
``X-Forwarded-Host`` / ``-Proto`` / ``-Prefix`` when trusted, else from the public-URL setting.
"""

from __future__ import annotations

from starlette.requests import Request

from dicomcommon.routes import DICOMWEB_ROOT
from wado.settings import Settings


def public_base(request: Request, settings: Settings) -> str:
    """``scheme://host[/prefix]/dicom-web`` as the client reached us, without trailing slash."""
    host = request.headers.get("x-forwarded-host") if settings.trust_forwarded_headers else None
    if not host:
        return settings.http.public_base_url.rstrip("/")
    host = host.split(",")[0].strip()
    proto = request.headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    prefix = request.headers.get("x-forwarded-prefix", "").split(",")[0].strip().rstrip("/")
    return f"{proto}://{host}{prefix}{DICOMWEB_ROOT}"
