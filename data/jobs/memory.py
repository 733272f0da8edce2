"""Hand memory freed by the background threads back to the operating system.

The live simulator and the alert rules build large short-lived tables (100,000 road segments a tick at
SIM_SCALE=shanghai) in their own threads; glibc keeps what they free in per-thread arenas, so a
worker's resident size only ever grew. `malloc_trim(0)` after each round returns the free pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; False where the C library cannot (then it is a no-op)."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
