"""Database outages as events: one log line when the store becomes unreachable, one when it is back.

A 60 s PostgreSQL stop under load wrote 1.34 M log lines (a traceback per failed request and per
background tick). Callers that meet a connection-level error report it here (`failed`) and answer
without a traceback (api/outage.py: 503 with Retry-After); `recovered` ends the outage and
logs how long it lasted and how many failures it caused.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import exc as sa_exc

log = logging.getLogger("citybrain.database")
RETRY_AFTER_S = 2  # what clients are told to wait (Retry-After) while the store is unreachable
PROBE_EVERY_S = 0.25  # while down, how often a request may check whether the store is back

_lock = threading.Lock()
_since: float | None = None  # wall clock of the first failure of the current outage
_failures = 0
_last_probe = 0.0


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached" (not a bug in a query)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    return isinstance(exc, sa_exc.TimeoutError)  # no pooled connection came back in time


def failed(exc: BaseException) -> None:
    global _since, _failures
    with _lock:
        first = _since is None
        if first:
            _since = time.time()
        _failures += 1
    if first:
        log.error("database unavailable (%s: %s)", type(exc).__name__, str(exc).strip().splitlines()[0][:200])


def recovered() -> None:
    global _since, _failures
    with _lock:
        if _since is None:
            return
        down, count = time.time() - _since, _failures
        _since, _failures = None, 0
    log.warning("database available again after %.1f s (%d failed requests or jobs)", down, count)


def active() -> bool:
    return _since is not None


def probe_due() -> bool:
    """While an outage lasts, True at most once per PROBE_EVERY_S (the caller then checks the store)."""
    global _last_probe
    with _lock:
        if _since is None or time.monotonic() - _last_probe < PROBE_EVERY_S:
            return False
        _last_probe = time.monotonic()
        return True
