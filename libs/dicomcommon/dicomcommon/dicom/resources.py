"""The path of an instance in the study / series / instance hierarchy (PS3.18 §10.4.1), and
the host-free form of its BulkDataURIs.

One shape serves as the DICOMweb resource path (``RetrieveURL``, ``Content-Location``), as the
base of an instance's ``BulkDataURI``s and as the prefix of its blob keys. Ingest stores each
BulkDataURI behind the ``dicomweb-bulk:`` placeholder instead of a host; readers swap it for
the public base the client reached (``publicbase``).
"""

from __future__ import annotations

BULK_URI_PREFIX = "dicomweb-bulk:"  # replaced by the public base URL when served


def instance_path(study: str, series: str, instance: str) -> str:
    """``studies/{study}/series/{series}/instances/{instance}``, relative (no leading ``/``)."""
    return f"studies/{study}/series/{series}/instances/{instance}"


def bulk_data_base(study: str, series: str, instance: str) -> str:
    """The stored BulkDataURI of an instance's attribute is this base plus its tag path."""
    return f"{BULK_URI_PREFIX}{instance_path(study, series, instance)}/bulkdata/"
