"""What a live page shows now, computed by each web worker ahead of the browsers' refreshes.

Every simulator tick (or feed write) is a new feed revision, and every refresh interval a new
instant: the map's values, the KPIs and the alerts are computed again for both. Before, the first
refresh after each of them computed them inside that request, once per worker: at SIM_SCALE=shanghai
0.35 s in an idle process and up to 2.7 s on a busy two-core machine, so the live refresh's p95 was
the first refresh after each tick. Here one thread of the process computes the view for a city as
soon as its interval or revision turns (a watcher polls the revisions of the cities browsers have
refreshed in the last WATCH_INTERVALS refresh intervals). Requests meanwhile answer with the view
held if it was computed at most LAG_INTERVALS refresh intervals before: values at most that late, each
answer naming the instant and the versions it shows. With no such view (a city nobody refreshed
lately, a worker just started) a request waits for the computation under way, or computes the view
itself when none is.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from data import access
from data.config import load_settings
from data.geo.cities import get_city
from data.refresh_ahead import RefreshAhead

log = logging.getLogger(__name__)

LAG_INTERVALS = 3  # a view computed up to this many refresh intervals before now stands in
WATCH_INTERVALS = 3  # a city is watched while browsers refresh it: up to this many intervals after the last
POLL_SECONDS = 0.5


class LiveView:
    """A city's live values at `at` (`access.current_values` for the feed revisions `rev`); the KPIs and
    alerts from them are computed on first use (a map refresh in a worker with a cold cache does not wait
    for yesterday's KPIs), once, shared by every request."""

    def __init__(self, city: str, at: int, rev: dict[str, int], values: dict[str, Any]) -> None:
        self.city, self.at, self.rev, self.values = city, at, rev, values
        # (versions a browser holds, the answer for them): the delta from the view before, computed with this one
        self.answered: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._parts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def kpis(self) -> list[access.Kpi] | None:
        """None: they failed (logged); each panel fails on its own."""
        return self._part("kpis", lambda: access.kpis_from(self.city, self.at, self.values))

    @property
    def alerts(self) -> list[access.Alert] | None:
        return self._part("alerts", lambda: access.alerts_from(self.at, self.values))

    def _part(self, name: str, compute: Any) -> Any:
        with self._lock:  # (a second request waits for the first one's computation rather than repeating it)
            if name not in self._parts:
                try:
                    self._parts[name] = compute()
                except Exception:
                    log.exception("live view of %s: %s failed", self.city, name)
                    self._parts[name] = None
            return self._parts[name]

    def since(self, have: dict[str, str] | None) -> dict[str, Any]:
        """The map's values as `access.live_values_since` answers them, against the versions the browser has."""
        for held, answer in self.answered:
            if have == held:
                return dict(answer)  # (a copy: the caller stamps its own keys on it)
        return access.values_since(self.city, self.at, self.rev, self.values, have)

    def tokens(self) -> dict[str, str]:
        return access.value_tokens(self.city, self.at, self.rev)


def _complete(view: LiveView) -> None:
    """A view computed in the background gets its KPIs and alerts there too: the requests answered
    with the view before meanwhile, and the next page opened would otherwise compute them inside its
    layout (0.3-0.8 s at the default scale, with a browser loading on the same two cores). The forecast
    alerts beside them are cached per 15 minutes and forecast revision: their first read is made here."""
    _ = view.kpis, view.alerts
    try:
        access.forecast_alerts(view.city, view.at)
    except Exception:
        log.exception("live view of %s: forecast alerts failed", view.city)


_AHEAD = RefreshAhead(slow_seconds=0.0, complete=_complete)


def view(city: str, now: float | None = None, watch: bool = True) -> LiveView:
    """The city's live view now: the one this process holds for the current refresh interval and feed
    revisions, or (while a thread computes that) the one it holds from up to LAG_INTERVALS before.
    `watch`: a refresh, so the city is watched and a newer view is computed in the background. A page's
    first values (False) take the view held as it is: a page opened and left would keep the city
    computed every interval, and a computation it started ran beside its own layout, on the same GIL
    (the layout took 0.2-0.7 s instead of 0.05 s)."""
    key = get_city(city).key
    slot, token = _slot(key), _token(key, now)
    if watch:
        _watcher.saw(slot)
    return _AHEAD.get(slot, token, lambda: _compute(key, token), accept=_close_to(token), begin=watch)[1]


def _slot(key: str) -> tuple[str, str]:
    return (load_settings().database_url, key)  # (one process may open several stores: the tests do)


def _token(key: str, now: float | None = None) -> tuple[int, tuple[tuple[str, int], ...]]:
    """(the refresh interval's start, the feed revisions): what a view is computed from."""
    now = time.time() if now is None else now
    return access.interval_start(now), tuple(sorted(access.revisions(key).items()))


def _close_to(token: tuple[int, Any]):
    limit = LAG_INTERVALS * load_settings().refresh_seconds
    return lambda held: 0 <= token[0] - held[0] <= limit


def _compute(key: str, token: tuple[int, tuple[tuple[str, int], ...]]) -> LiveView:
    at, rev = token[0], dict(token[1])
    values = access.current_values(key, at, rev)
    view = LiveView(key, at, rev, values)
    before = _AHEAD.held(_slot(key))
    held = before.tokens() if before is not None else None
    if held is not None and held != view.tokens():
        # What most browsers hold when this view is first asked for: the view before it (at Shanghai
        # scale the traffic delta alone compares 200,000 values, in the request before this).
        view.answered.append((held, access.values_since(key, at, rev, values, held)))
    return view


class _Watcher:
    """One thread per process: computes the watched cities' views when their interval or revision turns."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failing = False  # (a store outage: one log line, not two a second)

    def saw(self, slot: tuple[str, str]) -> None:
        with self._lock:
            self._seen[slot] = time.monotonic()
            if self._thread is None or not self._thread.is_alive():  # (none yet, or this is a forked worker)
                self._thread = threading.Thread(target=self._run, name="live-now", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            settings = load_settings()
            url, within = settings.database_url, WATCH_INTERVALS * settings.refresh_seconds
            with self._lock:
                watched = [s for s, seen in self._seen.items() if time.monotonic() - seen < within]
                self._seen = {s: self._seen[s] for s in watched}
            for slot in watched:
                if slot[0] != url:  # another store than the one open now (tests switch): not this one's to read
                    continue
                try:
                    token = _token(slot[1])
                except Exception:
                    if not self._failing:
                        log.exception("live view of %s: feed revisions unreadable", slot[1])
                    self._failing = True
                    continue
                self._failing = False
                now = _AHEAD.get_nowait(slot, token, lambda k=slot[1], t=token: _compute(k, t))
                if now is not None:  # the panels' part, once the map's is held
                    _ = now.kpis, now.alerts


_watcher = _Watcher()


def warm(city: str | None = None) -> None:
    """Compute the city's live view (None: the default city, the one "/" opens) with its KPIs and alerts,
    in the calling thread: a worker's first page open otherwise computed it inside its layout (1-1.5 s
    at the default scale). The city is not watched: its first refresh starts that. A failure (e.g. the
    store not reachable yet) is one warning; the first request computes the view then."""
    try:
        _complete(view(city, watch=False))
    except Exception as exc:
        log.warning("live view warm-up of %s failed: %s", city or "the default city", type(exc).__name__)


def held(city: str) -> LiveView | None:
    """The view this process holds for `city` (None: none yet), without computing one."""
    return _AHEAD.held(_slot(get_city(city).key))


def clear() -> None:
    """Forget the views held (tests that rewrite a store under the same URL)."""
    _AHEAD.clear()


def unwatch() -> None:
    """Stop computing ahead for the cities refreshed so far, until they are refreshed again (tests: one
    test's refreshes must not leave a thread computing views while the next one counts its reads)."""
    with _watcher._lock:
        _watcher._seen.clear()
