"""The public DICOMweb root clients see, for BulkDataURIs and Content-Locations (the rule is
shared with the change feed in ``dicomcommon.web.publicbase``)."""

from __future__ import annotations

from starlette.requests import Request

from dicomcommon.web import publicbase
from wado.settings import Settings


def public_base(request: Request, settings: Settings) -> str:
    """``scheme://host[/prefix]/dicom-web`` as the client reached us, without trailing slash."""
    return publicbase.public_base(request, settings.http, settings.trust_forwarded_headers)
