"""Refresh-ahead for values that are slow to recompute (a city's 7-day KPI trends on a cold cache take
seconds: data.access.kpi_trends_ready). While a newer version is computed by one thread of this process,
requests get the version held (or nothing), so no viewer's refresh waits for it and the browser receives
the newer values at a later refresh."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Held:
    token: Any
    values: Any
    slowest: float  # the longest computation seen in this slot (a new revision, not a new stale mask)


class RefreshAhead:
    """Per slot (e.g. city and layer), the newest values computed and their token."""

    def __init__(self, slow_seconds: float) -> None:
        self.slow_seconds = slow_seconds
        self._held: dict[Hashable, _Held] = {}
        self._pending: dict[Hashable, Any] = {}  # slot -> the token a thread is computing now
        self._lock = threading.Lock()

    def get(self, slot: Hashable, token: Any, compute: Callable[[], Any], ahead: bool = True) -> tuple[Any, Any]:
        """(token, values) for `token`, from `compute()` inline, or the held values and their token
        while a thread computes `token`'s: only with `ahead`, when values are held and a computation
        in this slot once took longer than `slow_seconds`."""
        with self._lock:
            held = self._held.get(slot)
            if held is not None and held.token == token:
                return held.token, held.values
            if ahead and held is not None and held.slowest > self.slow_seconds:
                self._start(slot, token, compute)
                return held.token, held.values
        return token, self._compute(slot, token, compute)

    def get_nowait(
        self, slot: Hashable, token: Any, compute: Callable[[], Any], accept: Callable[[Any], bool] = lambda _t: False
    ) -> Any:
        """The values for `token` when held; else one thread starts computing them and the values held
        are answered if `accept(their token)` (close enough to stand in), otherwise None."""
        with self._lock:
            held = self._held.get(slot)
            if held is not None and held.token == token:
                return held.values
            self._start(slot, token, compute)
            return held.values if held is not None and accept(held.token) else None

    def _start(self, slot: Hashable, token: Any, compute: Callable[[], Any]) -> None:
        """(under the lock) a thread for `token`, unless one is computing this slot already."""
        if slot in self._pending:
            return
        self._pending[slot] = token
        threading.Thread(
            target=self._compute, args=(slot, token, compute, True), name="refresh-ahead", daemon=True
        ).start()

    def _compute(self, slot: Hashable, token: Any, compute: Callable[[], Any], background: bool = False) -> Any:
        started = time.perf_counter()
        try:
            values = compute()
        except Exception:
            if not background:
                raise
            log.exception("refresh-ahead of %s failed", slot)
            values = None
        else:
            with self._lock:
                held = self._held.get(slot)
                slowest = max(time.perf_counter() - started, held.slowest if held else 0.0)
                self._held[slot] = _Held(token, values, slowest)
        finally:
            if background:
                with self._lock:
                    self._pending.pop(slot, None)  # the next request may try again
        return values

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
