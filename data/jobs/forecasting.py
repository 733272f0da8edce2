"""The forecast job: every FORECAST_MINUTES, backtest and refit each city's layers on the stored
history and store the forecasts (data/forecast/run.py), while this process leads the "forecasting"
job (data/jobs/leader.py), as the simulator and the alert rules do. Never per request.

A fit uses one core (BLAS and OpenMP threads limited to one): the serving workers keep the other.
"""

from __future__ import annotations

import logging
import threading
import time

from data import heartbeat, outage, store
from data.config import Settings
from data.geo.cities import CITIES
from data.jobs.leader import JobLock
from data.jobs.memory import release_freed_memory

log = logging.getLogger(__name__)
JOB = "forecasting"
_started = threading.Event()


def fit_all(engine, now: float | None = None, beat=lambda: None) -> list[dict]:
    """Fit every city's layers once (one core); returns the stored fit records."""
    from threadpoolctl import threadpool_limits

    from data.forecast import run, series

    fits = []
    with threadpool_limits(1):
        for city in CITIES:
            for layer in series.LAYER_SPECS:
                beat()  # each fit takes seconds: the heartbeat must not think the thread stuck
                try:
                    fits.append(run.fit_layer(engine, city, layer, now))
                except ValueError as exc:  # too little history yet (a fresh store): next round
                    log.info("forecast %s %s: %s", city, layer, exc)
    return fits


def start(settings: Settings) -> bool:
    """Start the forecast thread once per process (FORECASTS=1, the default)."""
    if not settings.forecasts or _started.is_set():
        return False
    _started.set()
    lock = JobLock(settings, JOB)

    def run() -> None:
        engine = store.get_engine(settings.database_url)
        due = 0.0
        while True:
            heartbeat.job_beat(JOB)
            time.sleep(settings.refresh_seconds)
            if time.monotonic() < due or not lock.held():
                continue
            started = time.perf_counter()
            try:
                fits = fit_all(engine, beat=lambda: heartbeat.job_beat(JOB))
                outage.recovered()
                served = sum(f["served"] for f in fits)
                log.info("forecasts: %d fits (%d served) in %.1fs", len(fits), served, time.perf_counter() - started)
            except Exception as exc:
                if not outage.is_unavailable(exc):
                    log.exception("forecast fit failed")
                outage.failed(exc)
            due = time.monotonic() + settings.forecast_minutes * 60
            release_freed_memory()

    threading.Thread(target=run, name="forecasts", daemon=True).start()
    return True
