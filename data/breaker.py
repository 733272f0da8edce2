"""A circuit breaker for an optional shared service (Redis): after a failure, skip it for a while.

A frozen Redis answers nothing; each call would wait its whole socket timeout. Once a call fails
the breaker opens and callers go straight to their fallback (the local cache tier, the store, an
in-process limit) for `retry_seconds`; then one call is let through to try again. One log line
when it opens and one when it closes, not one per failed call.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("citybrain.breaker")
_breakers: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


class CircuitBreaker:
    def __init__(self, name: str, retry_seconds: float = 5.0) -> None:
        self.name, self.retry_seconds = name, retry_seconds
        self._lock = threading.Lock()
        self._open_until = 0.0  # monotonic; 0 = closed
        self._trying = False  # one caller is probing an open breaker
        self.since: float | None = None  # wall clock of the first failure of this outage
        self.reason = ""
        self.failures = 0

    def allow(self) -> bool:
        """May the caller use the service now? While open, False, except one probe per retry period."""
        with self._lock:
            if self.since is None:
                return True
            if self._trying or time.monotonic() < self._open_until:
                return False
            self._trying = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self.since is None:
                return
            down, count = time.time() - self.since, self.failures
            self.since, self._trying, self.failures, self.reason = None, False, 0, ""
        log.warning("%s is back after %.1f s (%d failed calls); using it again", self.name, down, count)

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self.since is None
            self.failures += 1
            self._trying = False
            self._open_until = time.monotonic() + self.retry_seconds
            if first:
                self.since, self.reason = time.time(), f"{type(exc).__name__}: {str(exc)[:160]}"
        if first:
            log.warning(
                "%s unavailable (%s): skipping it, retrying every %.0f s", self.name, self.reason, self.retry_seconds
            )

    @property
    def is_open(self) -> bool:
        return self.since is not None

    def status(self) -> dict[str, Any]:
        if self.since is None:
            return {"ok": True}
        return {"ok": False, "reason": self.reason, "down_s": round(time.time() - self.since, 1)}


def breaker(name: str, retry_seconds: float = 5.0) -> CircuitBreaker:
    """The process's breaker for `name` (one per service, shared by everything that uses it)."""
    with _registry_lock:
        if name not in _breakers:
            _breakers[name] = CircuitBreaker(name, retry_seconds)
        return _breakers[name]


def open_breakers() -> dict[str, dict[str, Any]]:
    """{name: status} of the breakers that are open now (for /healthz)."""
    with _registry_lock:
        known = list(_breakers.values())
    return {b.name: b.status() for b in known if b.is_open}
