"""`python -m data.jobs.background`: the live simulator, the alert rules and the forecast fits in a process
of their own.

Under gunicorn (see gunicorn.conf.py) the web workers only serve: the master starts this process and
restarts it if it dies, and it ends when the master does. A worker that also ran the simulator held
its per-tick tables besides the cache (537 MB at SIM_SCALE=shanghai, against 440 MB for a worker
that only serves), and a recycled worker took the simulator with it.

Each job ticks only while this process leads it (data/jobs/leader.py: a file lock per data directory, or
a PostgreSQL advisory lock across machines); another process waits and takes over when it stops.
It beats a heartbeat file the master watches (data/heartbeat.py): a frozen process is restarted.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from data import access, heartbeat
from data.config import load_settings
from data.jobs import alerting, forecasting
from data.jobs.bootstrap import prepare_data, start_live_simulator
from data.jobs.memory import freeze_startup_objects

log = logging.getLogger("citybrain.background")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    simulate, rules = settings.simulate_live, settings.alert_rules
    if not (simulate or rules or settings.forecasts):
        log.info("SIMULATE_LIVE=0, ALERT_RULES=0 and FORECASTS=0: nothing to run")
        return 0
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = access.standalone_cache_host(settings, "citybrain-background")  # the alert rules read through it
    prepare_data(settings, progress=log.info)  # waits while a worker prepares; fast once prepared
    frozen = freeze_startup_objects()  # before the threads start: nothing of theirs is half-built in it
    log.info("%d start-up objects left out of garbage collection", frozen)
    if simulate:
        start_live_simulator(settings)
    if rules:
        alerting.start(server, settings)
    forecasting.start(settings)
    log.info("background jobs in process %d (each runs while this process leads it)", os.getpid())
    beat_every = min(1.0, settings.refresh_seconds / 4)
    while os.getppid() == parent:  # the master is gone: so is this process
        heartbeat.write(settings.data_dir, settings.refresh_seconds)
        time.sleep(beat_every)
    log.info("parent process %d ended: stopping", parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
