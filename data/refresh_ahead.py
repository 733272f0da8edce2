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


@dataclass
class _Pending:
    token: Any
    done: threading.Event


WAIT_SECONDS = 120.0  # a request waits this long at most for the computation under way, then computes


class RefreshAhead:
    """Per slot (e.g. city and layer), the newest values computed and their token; one computation
    per slot at a time."""

    def __init__(self, slow_seconds: float, complete: Callable[[Any], Any] | None = None) -> None:
        """`complete(values)`: what a background computation also does before its values are held (a
        request computing values itself only waits for `compute`)."""
        self.slow_seconds = slow_seconds
        self.complete = complete
        self._held: dict[Hashable, _Held] = {}
        self._pending: dict[Hashable, _Pending] = {}  # slot -> the computation under way
        self._lock = threading.Lock()
        self._generation = 0  # clear() turns it: a computation started before does not store its values

    def get(
        self,
        slot: Hashable,
        token: Any,
        compute: Callable[[], Any],
        ahead: bool = True,
        accept: Callable[[Any], bool] | None = None,
        begin: bool = True,
    ) -> tuple[Any, Any]:
        """(token, values) for `token`: the held values and their token while a thread computes `token`'s
        (only with `ahead`, when values are held and `accept(their token)`; without `accept`, when a
        computation in this slot once took longer than `slow_seconds`); else `token`'s values, from the
        computation of them under way (waited for) or from `compute()` here. With `begin` False the held
        values answer without starting that thread (whoever asks with `begin` starts it)."""
        mine = None
        with self._lock:
            held = self._held.get(slot)
            if held is not None and held.token == token:
                return held.token, held.values
            stand_in = held is not None and (accept(held.token) if accept else held.slowest > self.slow_seconds)
            if ahead and stand_in:
                if begin:
                    self._start(slot, token, compute)
                return held.token, held.values
            pending = self._pending.get(slot)
            if pending is None:
                pending = mine = self._pending[slot] = _Pending(token, threading.Event())
        if mine is None and pending.token == token and pending.done.wait(WAIT_SECONDS):
            with self._lock:
                held = self._held.get(slot)
            if held is not None and held.token == token:
                return token, held.values
        return token, self._compute(slot, token, compute, mine)

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
        """(under the lock) a thread for `token`, unless a computation in this slot is under way."""
        if slot in self._pending:
            return
        pending = self._pending[slot] = _Pending(token, threading.Event())
        threading.Thread(
            target=self._compute, args=(slot, token, compute, pending, True), name="refresh-ahead", daemon=True
        ).start()

    def _compute(
        self,
        slot: Hashable,
        token: Any,
        compute: Callable[[], Any],
        pending: _Pending | None = None,
        background: bool = False,
    ) -> Any:
        """`compute()`, held as `token`'s values; `pending`: this slot's computation under way, ended here."""
        started, generation = time.perf_counter(), self._generation
        try:
            values = compute()
            if background and self.complete is not None:
                self.complete(values)
        except Exception:
            if not background:
                raise
            log.exception("refresh-ahead of %s failed", slot)
            values = None
        else:
            with self._lock:
                held = self._held.get(slot)
                slowest = max(time.perf_counter() - started, held.slowest if held else 0.0)
                if generation == self._generation:
                    self._held[slot] = _Held(token, values, slowest)
        finally:
            if pending is not None:
                with self._lock:
                    if self._pending.get(slot) is pending:
                        del self._pending[slot]  # the next request may start another
                pending.done.set()
        return values

    def held(self, slot: Hashable) -> Any:
        """The values held in `slot` (None: none), whatever their token."""
        with self._lock:
            held = self._held.get(slot)
        return None if held is None else held.values

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._generation += 1
