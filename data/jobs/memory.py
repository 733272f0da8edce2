"""Memory housekeeping of long-running processes.

The live simulator and the alert rules build large short-lived tables (100,000 road segments a tick at
SIM_SCALE=shanghai) in their own threads; glibc keeps what they free in per-thread arenas, so a
worker's resident size only ever grew. `malloc_trim(0)` after each round returns the free pages.

A process that has built the app holds ~180,000 objects the cyclic garbage collector tracks (modules'
functions, Dash components, SQLAlchemy metadata), all alive until it exits. Every full collection walked
them: 110-160 ms with the GIL held (a serving worker at SIM_SCALE=shanghai ran one every 10-30 s), in
the middle of whichever map refresh was running. `freeze_startup_objects` takes them out of later collections.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


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


def freeze_startup_objects() -> int:
    """Exclude every object alive now from later garbage collections (call once the app is built, before
    serving); returns how many are frozen. Objects made later are collected as usual; a frozen object
    still goes when nothing refers to it, only frozen reference cycles are never reclaimed."""
    gc.collect()  # what start-up left as garbage goes first, not into the permanent generation
    gc.freeze()
    return gc.get_freeze_count()
