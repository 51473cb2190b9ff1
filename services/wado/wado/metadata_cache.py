"""Serialized metadata of recently read studies and series, keyed by their ETag.

PostgreSQL turns ``jsonb`` into text at about 100 MB/s, so a 320-instance study (4 MB of DICOM
JSON) costs ~40 ms of serialization on every read, though viewers re-read the same study many
times. The ETag (every instance's UID and version, one index-only query) changes whenever the
resource does, so an entry under it is never stale; entries are bounded in bytes, least recently
used first out. BulkDataURI placeholders stay in, so any public base can be served from it.
"""

from __future__ import annotations

from wado.lru import BytesLru

Key = tuple[str, str]  # (resource path, ETag)
MetadataCache = BytesLru[Key]
