"""Serialized metadata of recently read studies and series, keyed by their ETag.

PostgreSQL turns ``jsonb`` into text at about 100 MB/s, so a 320-instance study (4 MB of DICOM
JSON) costs ~40 ms of serialization on every read, though viewers re-read the same study many
times. The ETag (every instance's UID and version, one index-only query) changes whenever the
resource does, so an entry under it is never stale; entries are bounded in bytes, least recently
used first out. BulkDataURI placeholders stay in, so any public base can be served from it.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

Key = tuple[str, str]  # (resource path, ETag)


class MetadataCache:
    """A byte-bounded LRU of DICOM JSON arrays (without the enclosing brackets' replacement)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, bytes] = OrderedDict()
        self._size = 0
        self._lock = Lock()

    def get(self, key: Key) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Key, body: bytes) -> None:
        """Keep ``body`` unless it would take more than a quarter of the budget."""
        if len(body) > self.max_bytes // 4:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            self._size -= len(previous) if previous is not None else 0
            self._entries[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)
