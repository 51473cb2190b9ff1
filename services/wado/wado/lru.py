"""A least-recently-used map of byte strings bounded by their total size, shared by the
caches of serialized metadata and of rendered pictures (thread-safe: worker threads put too)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class BytesLru(Generic[K]):
    """Entries up to a quarter of ``max_bytes`` each, least recently used first out."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, bytes] = OrderedDict()
        self._size = 0
        self._lock = Lock()

    @property
    def size(self) -> int:
        """The bytes held now, never above ``max_bytes``."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: K, body: bytes) -> None:
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
