"""The path of an instance in the study / series / instance hierarchy (PS3.18 §10.4.1).

One shape serves as the DICOMweb resource path (``RetrieveURL``, ``Content-Location``), as the
base of an instance's ``BulkDataURI``s and as the prefix of its blob keys.
"""

from __future__ import annotations


def instance_path(study: str, series: str, instance: str) -> str:
    """``studies/{study}/series/{series}/instances/{instance}``, relative (no leading ``/``)."""
    return f"studies/{study}/series/{series}/instances/{instance}"
