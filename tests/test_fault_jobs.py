"""The background jobs under faults: a frozen background process is restarted by the gunicorn
master within 3 refresh intervals (and /healthz is degraded meanwhile), and on PostgreSQL two
instances of the same configuration elect one runner per job and fail over when it is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text

from data import store
from data.jobs.leader import lock_key
from tests.conftest import SESSION_DIR, _copy_store, running_app
from tests.faults import request, small_store
from tests.test_background_jobs import GUNICORN, _children

REFRESH_S = 2


def _status(base: str) -> tuple[str, dict]:
    import json

    body = json.loads(request(base + "/healthz")[2])
    return body["status"], body.get("degraded", {})


def _until(what, timeout_s: float, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := what():
            return found
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s: {what.__doc__}")


def test_a_frozen_background_process_is_restarted_and_healthz_says_so(prepared):
    data_dir = SESSION_DIR / "fault-frozen"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {"DATA_DIR": str(data_dir), "SIMULATE_LIVE": "1", "ALERT_RULES": "1", "REFRESH_SECONDS": str(REFRESH_S)}
    args = tuple(a if a != "2" else "1" for a in GUNICORN)  # one worker is enough here
    procs: list = []
    with running_app(env, SESSION_DIR / "fault-frozen.log", 120, args, started=procs) as base:

        def job() -> int | None:
            """the background process"""
            found = [pid for pid, cmd in _children(procs[0].pid).items() if "data.jobs.background" in cmd]
            return found[0] if len(found) == 1 else None

        frozen = _until(job, 60)
        _until(lambda: _status(base)[0] == "ok", 60)  # it simulates: live data is fresh
        os.kill(frozen, signal.SIGSTOP)
        stopped = time.monotonic()
        seen: list[tuple[float, str, dict]] = []

        def restarted() -> int | None:
            """another background process, and fresh data again"""
            seen.append((time.monotonic() - stopped, *_status(base)))
            pid = job()
            return pid if pid not in (None, frozen) and seen[-1][1] == "ok" else None

        replacement = _until(restarted, 40)
    assert not os.path.exists(f"/proc/{frozen}") or "Z" in Path(f"/proc/{frozen}/stat").read_text().split()[2]
    assert replacement != frozen
    log = (SESSION_DIR / "fault-frozen.log").read_text()
    assert f"background jobs (pid {frozen}) silent for" in log
    restart_s = float(log.split(f"background jobs (pid {frozen}) silent for ")[1].split(" s")[0])
    assert restart_s <= 3 * REFRESH_S, restart_s
    degraded = [reasons for _, status, reasons in seen if status == "degraded"]
    assert degraded and "background_jobs" in degraded[0], seen
    print(f"silent {restart_s} s at restart; fresh data again {seen[-1][0]:.1f} s after the freeze")


def _leaders(url: str) -> dict[str, set[str]]:
    """{job: application names of the sessions holding its advisory lock}."""
    keys = {lock_key(job): job for job in ("simulator", "alerting")}
    with store.get_engine(url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT (l.classid::bigint << 32) | l.objid::bigint AS key, a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
            )
        ).all()
    held: dict[str, set[str]] = {job: set() for job in keys.values()}
    for key, name in rows:
        for wanted, job in keys.items():
            if key == wanted & 0xFFFFFFFFFFFFFFFF:
                held[job].add(name)
    return held


def test_two_instances_elect_one_runner_and_fail_over(fault_pg):
    url = small_store(fault_pg, "faults_leader")
    base_env = {
        "DATABASE_URL": url,
        "SIMULATE_LIVE": "1",
        "SIMULATE_BACKFILL": "0",
        "ALERT_RULES": "1",
        "REFRESH_SECONDS": "1",
    }
    procs: list = []
    env_a = base_env | {"DATA_DIR": str(SESSION_DIR / "fault-leader-a")}
    env_b = base_env | {"DATA_DIR": str(SESSION_DIR / "fault-leader-b")}
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        starts = [(env_a, SESSION_DIR / "fault-leader-a.log"), (env_b, SESSION_DIR / "fault-leader-b.log")]
        list(pool.map(lambda e: stack.enter_context(running_app(*e, 120, started=procs)), starts))  # together
        names = {proc.pid: f"citybrain jobs {os.uname().nodename[:30]} {proc.pid}" for proc in procs}

        def one_each() -> dict[str, set[str]]:
            """one holder per job"""
            held = _leaders(url)
            return held if all(len(h) == 1 for h in held.values()) else {}

        held = _until(one_each, 30)
        for _ in range(5):  # and it stays so while both run
            time.sleep(0.5)
            assert all(len(h) == 1 for h in _leaders(url).values())
        leader = next(pid for pid, name in names.items() if name in held["simulator"])
        other = next(pid for pid in names if pid != leader)
        os.kill(leader, signal.SIGKILL)
        killed = time.monotonic()
        _until(lambda: _leaders(url) == {"simulator": {names[other]}, "alerting": {names[other]}}, 30)
        takeover_s = time.monotonic() - killed
        engine = store.get_engine(url)
        before = store.feed_states(engine, "hangzhou")["traffic"][0]
        _until(lambda: store.feed_states(engine, "hangzhou")["traffic"][0] > before, 10)  # it simulates
        with engine.connect() as conn:
            twice = conn.execute(
                text(
                    "SELECT alert_key FROM incident WHERE alert_key IS NOT NULL AND closed_at IS NULL "
                    "GROUP BY alert_key HAVING count(*) > 1"
                )
            ).all()
    assert twice == []
    assert takeover_s < 30
    print(f"the other instance led {takeover_s:.1f} s after kill -9")
