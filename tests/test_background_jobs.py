"""Under gunicorn the live simulator and the alert rules run in a process of their own
(gunicorn.conf.py starts `python -m data.jobs.background`): the workers only serve, the master restarts
the process when it dies, and it ends with the master."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from data import store
from tests.conftest import SESSION_DIR, _copy_store, running_app

GUNICORN = ("-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:{port}", "--no-control-socket", "app:server")


def _children(pid: int) -> dict[int, str]:
    """{pid: command line} of the live (not zombie) children of `pid`."""
    out = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.M) and not re.search(r"^State:\s+Z", text, re.M):
            out[int(status.parent.name)] = cmdline
    return out


def _lock_holder(path: Path) -> int | None:
    """The pid holding a flock on `path` (from /proc/locks), or None (also before the file exists)."""
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return None
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "FLOCK" in fields and fields[5].split(":")[-1] == str(inode):
            return int(fields[4])
    return None


def _wait(what, timeout_s: float = 60.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what.__doc__ or what}")


def test_gunicorn_runs_the_simulator_and_rules_beside_the_workers(prepared):
    data_dir = SESSION_DIR / "background"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {"DATA_DIR": str(data_dir), "SIMULATE_LIVE": "1", "ALERT_RULES": "1", "REFRESH_SECONDS": "1"}
    engine = store.get_engine(f"sqlite:///{data_dir / 'citybrain.sqlite'}")
    procs: list = []
    log = SESSION_DIR / "background.log"
    with running_app(env, log, 120, GUNICORN, started=procs):
        master = procs[0].pid

        def background() -> int | None:
            """the background process"""
            found = [pid for pid, cmd in _children(master).items() if "data.jobs.background" in cmd]
            return found[0] if len(found) == 1 else None

        job = _wait(background)
        workers = [pid for pid, cmd in _children(master).items() if "data.jobs.background" not in cmd]
        assert len(workers) == 2

        def holds_both_locks() -> bool:
            """the background process to hold the simulator's and the rules' locks"""
            holders = {_lock_holder(data_dir / name) for name in ("simulator.lock", "alerting.lock")}
            return holders == {job}

        _wait(holds_both_locks)

        # Each worker and the background process freeze what start-up built (full collections skip it).
        def all_frozen() -> list[str] | None:
            """the two workers and the background process to freeze their start-up objects"""
            found = re.findall(r"(\d+) start-up objects left out of garbage collection", log.read_text())
            return found if len(found) == 3 else None

        assert all(int(n) > 50_000 for n in _wait(all_frozen))
        before = store.feed_states(engine, "hangzhou")["traffic"][0]
        _wait(lambda: store.feed_states(engine, "hangzhou")["traffic"][0] > before, 30)  # it simulates

        os.kill(job, signal.SIGKILL)  # the master starts another one
        job = _wait(lambda: background() not in (None, job) and background())
        _wait(holds_both_locks)
        assert sorted(pid for pid, cmd in _children(master).items() if "data.jobs.background" not in cmd) == sorted(
            workers
        )
    procs[0].wait(timeout=30)
    _wait(lambda: not Path(f"/proc/{job}").exists() or "Z" in Path(f"/proc/{job}/stat").read_text().split()[2], 20)
