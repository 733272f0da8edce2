"""gunicorn settings: `gunicorn -w 2 app:server` reads this file from the project directory.

The web workers only serve (BACKGROUND_JOBS=process); the master starts `python -m data.background`
(the live simulator and the alert rules), restarts it if it exits, and stops it on shutdown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

PROJECT = Path(__file__).resolve().parent
os.environ.setdefault("BACKGROUND_JOBS", "process")  # before the app is imported: workers inherit it

_stopping = threading.Event()
_job: dict[str, subprocess.Popen] = {}
# Popen waits for the child's exec on a pipe; a worker the master forks meanwhile inherits that pipe's
# write end and keeps it open, so Popen never returns (no log, no restart). Forks wait for Popen.
_spawning = threading.RLock()
os.register_at_fork(before=_spawning.acquire, after_in_parent=_spawning.release, after_in_child=_spawning.release)


def _wanted() -> bool:
    sys.path.insert(0, str(PROJECT))  # the master has not imported the app: read the settings as it will
    from data.config import load_settings

    settings = load_settings()
    return settings.background_jobs == "process" and (settings.simulate_live or settings.alert_rules)


def _supervise(log) -> None:
    while not _stopping.is_set():
        with _spawning:
            proc = _job["proc"] = subprocess.Popen([sys.executable, "-m", "data.background"], cwd=PROJECT)
        log.info("background jobs started (pid %d)", proc.pid)
        while proc.poll() is None and not _stopping.wait(1.0):
            pass
        if not _stopping.is_set():  # (the master may have reaped it: then its code reads 0)
            log.warning("background jobs exited (%s); restarting in 5 s", proc.returncode)
            _stopping.wait(5.0)


def when_ready(server) -> None:
    if _wanted():
        threading.Thread(target=_supervise, args=(server.log,), name="background-jobs", daemon=True).start()


def on_exit(server) -> None:
    _stopping.set()
    proc = _job.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
