"""gunicorn settings: `gunicorn -w 2 app:server` reads this file from the project directory.

The web workers only serve (BACKGROUND_JOBS=process); the master starts `python -m data.jobs.background`
(the live simulator and the alert rules), restarts it if it exits or its heartbeat stops (a frozen
process: data/heartbeat.py), and stops it on shutdown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent
os.environ.setdefault("BACKGROUND_JOBS", "process")  # before the app is imported: workers inherit it
sys.path.insert(0, str(PROJECT))  # the master does not import the app, only what its supervisor reads
# Imported here, before any thread or fork: a worker forked while the supervisor thread was importing a
# module inherits that module's import lock, held by a thread it does not have, and hangs importing the app.
from data import heartbeat  # noqa: E402
from data.config import load_settings  # noqa: E402

# Where and how many: HOST/PORT as for `python app.py` (`-b` on the command line wins), WEB_CONCURRENCY workers.
_settings_at_start = load_settings()
bind = [f"{_settings_at_start.host}:{_settings_at_start.port}"]
workers = _settings_at_start.web_concurrency
timeout = 120  # a worker catching up after a long stop writes before it answers (scripts/start.sh prepares first)

_stopping = threading.Event()
_job: dict[str, subprocess.Popen] = {}
# Popen waits for the child's exec on a pipe; a worker the master forks meanwhile inherits that pipe's
# write end and keeps it open, so Popen never returns (no log, no restart). Forks wait for Popen.
_spawning = threading.RLock()
os.register_at_fork(before=_spawning.acquire, after_in_parent=_spawning.release, after_in_child=_spawning.release)


def _settings():
    return load_settings()  # read as the app will read them


def _wanted() -> bool:
    settings = _settings()
    return settings.background_jobs == "process" and (settings.simulate_live or settings.alert_rules)


def _silent_for(proc: subprocess.Popen, settings) -> float:
    """Seconds since `proc` last beat its heartbeat (data/heartbeat.py); 0 before its first beat."""
    beat = heartbeat.read(settings.data_dir)
    return 0.0 if beat is None or beat[0] != proc.pid else max(0.0, time.time() - beat[1])


def _supervise(log) -> None:
    settings = _settings()
    limit = heartbeat.STALE_INTERVALS * settings.refresh_seconds
    while not _stopping.is_set():
        with _spawning:
            proc = _job["proc"] = subprocess.Popen([sys.executable, "-m", "data.jobs.background"], cwd=PROJECT)
        log.info("background jobs started (pid %d)", proc.pid)
        hung = False
        while proc.poll() is None and not _stopping.wait(0.25):
            silent = _silent_for(proc, settings)
            if silent > limit:  # frozen or stuck: SIGKILL works on a stopped process too
                log.warning("background jobs (pid %d) silent for %.1f s: killing and restarting", proc.pid, silent)
                proc.kill()
                proc.wait()
                hung = True
        if not _stopping.is_set() and not hung:  # (the master may have reaped it: then its code reads 0)
            log.warning("background jobs exited (%s); restarting in 5 s", proc.returncode)
            _stopping.wait(5.0)


def _announce_first_run(address: str, log) -> None:
    """No user yet: print the one-time link that creates the first admin (in a child: the master keeps
    no database connection for the workers it forks to inherit)."""
    host, _, port = address.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host
    with _spawning:  # (see _spawning)
        child = subprocess.Popen(
            [sys.executable, "-m", "cli.users", "setup-link", "--url", f"http://{host}:{port}"],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out, err = child.communicate()
    if child.returncode:
        log.error("could not check for a first user: %s", err[-500:])
    elif "/setup?token=" in out:
        _wait_until_serving(f"http://{host}:{port}/healthz")  # printed last, not under the workers' start-up log
        print(out, flush=True)


def _wait_until_serving(url: str, timeout_s: float = 120) -> None:
    import urllib.request

    deadline = time.time() + timeout_s
    while time.time() < deadline and not _stopping.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:  # not serving yet (or 503: the database is still being reached)
            time.sleep(0.5)


def when_ready(server) -> None:
    address = str(server.cfg.bind[0]) if server.cfg.bind else "127.0.0.1:8050"
    threading.Thread(target=_announce_first_run, args=(address, server.log), name="first-run", daemon=True).start()
    if _wanted():
        threading.Thread(target=_supervise, args=(server.log,), name="background-jobs", daemon=True).start()


def post_worker_init(worker) -> None:
    from data.jobs.memory import freeze_startup_objects

    frozen = freeze_startup_objects()  # the app is built: its objects leave full collections (data/jobs/memory.py)
    worker.log.info("worker %d: %d start-up objects left out of garbage collection", worker.pid, frozen)
    from data import live_now

    # The default city's live view, before the first page open asks for it (data/live_now.py warm).
    threading.Thread(target=live_now.warm, name="live-view-warm-up", daemon=True).start()


def on_exit(server) -> None:
    _stopping.set()
    proc = _job.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
