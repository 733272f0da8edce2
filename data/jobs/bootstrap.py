"""First-start preparation and the live simulator thread.

Only one process runs the live simulator (data/jobs/leader.py: a file lock per data directory, or a
PostgreSQL advisory lock across machines), so the same observations are never written twice.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time

from sqlalchemy import text

from data import access, heartbeat, outage, store
from data.config import Settings
from data.geo.cities import CITIES
from data.jobs.leader import JobLock, lock_key
from data.jobs.memory import release_freed_memory
from data.sim import simulate

log = logging.getLogger(__name__)
_started = threading.Event()


def prepare_data(settings: Settings, progress=print) -> None:
    """Create and fill the store if needed, then catch up to now (fast when already prepared)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several gunicorn workers start at once: one prepares, others wait
        if not settings.database_url.startswith("postgresql"):
            _prepare_locked(settings, progress)
            return
        # Machines sharing one PostgreSQL store: one prepares at a time (two writing the same new buckets at
        # once collided on their primary keys), the others wait on a session-level advisory lock.
        engine = store.get_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key("prepare")})
            try:
                _prepare_locked(settings, progress)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key("prepare")})


def _prepare_locked(settings: Settings, progress) -> None:
    engine = store.get_engine(settings.database_url)
    fresh = store.get_meta(engine, "prepared") is None if _has_schema(engine) else True
    if fresh:
        progress(f"First start: preparing SIMULATED data in {settings.database_url} ...")
    started = time.perf_counter()
    # With the live simulator on, older history of the non-default cities is added in its thread.
    simulate.prepare(
        engine,
        progress=progress if fresh else (lambda _m: None),
        full=settings.simulate_backfill and not settings.simulate_live,
    )
    store.set_meta(engine, "prepared", "1")
    for key in CITIES:
        layers = [layer for layer in store.LAYERS if settings.simulates(key, layer)]
        if store.note_simulation(engine, key, layers) and not fresh:
            progress(f"SIMULATE: {key} simulates {', '.join(layers) or 'nothing'}")
    access.build_geobuf_files(progress if fresh else (lambda _m: None))
    if fresh:
        progress(f"Data ready in {time.perf_counter() - started:.1f}s")


def _has_schema(engine) -> bool:
    from sqlalchemy import inspect

    return inspect(engine).has_table("meta")


def start_live_simulator(settings: Settings) -> bool:
    """Start the simulator thread (once per process); it ticks only while this process leads the
    "simulator" job (data/jobs/leader.py), so one process among all sharing the store writes."""
    if _started.is_set() or not settings.simulate_live:
        return False
    _started.set()
    lock = JobLock(settings, "simulator")
    thread = threading.Thread(target=_run, args=(settings, lock), name="live-simulator", daemon=True)
    thread.start()
    return True


def _run(settings: Settings, lock: JobLock) -> None:
    engine = store.get_engine(settings.database_url)
    while not lock.held():
        heartbeat.job_beat("simulator")
        time.sleep(settings.refresh_seconds)
    if settings.simulate_backfill:
        try:
            simulate.backfill_all(engine, progress=log.info)
        except Exception:
            log.exception("history backfill failed")
    while True:
        heartbeat.job_beat("simulator")
        time.sleep(settings.refresh_seconds)
        if not lock.held():
            continue
        try:
            for city in CITIES.values():
                simulate.advance_city(engine, city, time.time())
            outage.recovered()
        except Exception as exc:
            if not outage.is_unavailable(exc):
                log.exception("live simulator tick failed")
            outage.failed(exc)
        release_freed_memory()


if __name__ == "__main__":  # scripts/start.sh: prepare before gunicorn forks its workers
    from data.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_data(load_settings(), progress=lambda m: print(m, flush=True))
