"""Fewer glibc malloc arenas, so memory freed by worker threads goes back to use.

glibc gives each thread that allocates under contention its own arena, up to eight per core.
Codecs and transcoding run in worker threads; what they free stays in their arenas, so a
service that has decoded a few hundred images sits at twice its working size. Two arenas keep
the resident size near the working size at no measurable cost in speed. An operator's
``MALLOC_ARENA_MAX`` wins; on a C library without ``mallopt`` (musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # glibc malloc.h
ARENAS = 2


def limit_arenas() -> bool:
    """Cap the arenas before any worker thread starts; True if the cap was set here."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
