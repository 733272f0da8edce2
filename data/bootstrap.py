"""First-start preparation and the live simulator thread.

Only one process per data directory runs the live simulator (an exclusive file lock), so several
gunicorn workers never write the same observations twice.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path

from data import access, simulate, store
from data.cities import CITIES
from data.config import Settings
from data.memory import release_freed_memory

log = logging.getLogger(__name__)
_started = threading.Event()


def prepare_data(settings: Settings, progress=print) -> None:
    """Create and fill the store if needed, then catch up to now (fast when already prepared)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several gunicorn workers start at once: one prepares, others wait
        _prepare_locked(settings, progress)


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
    access.build_geobuf_files(progress if fresh else (lambda _m: None))
    if fresh:
        progress(f"Data ready in {time.perf_counter() - started:.1f}s")


def _has_schema(engine) -> bool:
    from sqlalchemy import inspect

    return inspect(engine).has_table("meta")


def start_live_simulator(settings: Settings) -> bool:
    """Start the background simulator unless another process holds the lock; returns True if started."""
    if _started.is_set() or not settings.simulate_live:
        return False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock_file = open(Path(settings.data_dir) / "simulator.lock", "w")  # noqa: SIM115 - held for the process life
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        return False
    _started.set()
    thread = threading.Thread(target=_run, args=(settings, lock_file), name="live-simulator", daemon=True)
    thread.start()
    return True


def _run(settings: Settings, _lock_file) -> None:
    engine = store.get_engine(settings.database_url)
    if settings.simulate_backfill:
        try:
            simulate.backfill_all(engine, progress=log.info)
        except Exception:
            log.exception("history backfill failed")
    while True:
        time.sleep(settings.refresh_seconds)
        try:
            for city in CITIES.values():
                simulate.advance_city(engine, city, time.time())
        except Exception:
            log.exception("live simulator tick failed")
        release_freed_memory()
