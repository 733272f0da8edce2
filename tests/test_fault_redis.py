"""Redis frozen (SIGSTOP) and then down, under a small bounded load on PostGIS + Redis: no request
fails and p95 stays within twice the baseline (redis-py's default timeouts once made a frozen Redis
cost 5 s per call, and the open data API answered 503 while Redis was down)."""

from __future__ import annotations

import json
import os
import signal
import time

from tests import servers
from tests.conftest import SESSION_DIR, refresh_map_body, running_app
from tests.faults import PUBLIC_URLS, load, operator_token, request, small_store

PHASE_S = 2.5


def _health(base: str) -> dict:
    status, _, body = request(base + "/healthz")
    assert status == 200, body[:300]
    return json.loads(body)


def _until_ok(base: str, calls: list, timeout_s: float = 15) -> None:
    """Requests (one of them, after the breaker's retry period, tries Redis again) until it is used again."""
    deadline = time.monotonic() + timeout_s
    while _health(base)["status"] != "ok":
        assert time.monotonic() < deadline, "Redis not used again"
        load(base, calls, 0.3, 20, threads=1)


def test_redis_frozen_or_down_costs_no_errors_and_little_time(fault_pg):
    url = small_store(fault_pg, "faults_redis")
    auth = operator_token(url)
    redis = servers.start_redis()
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "DATA_DIR": str(SESSION_DIR / "fault-redis"),
        "SIMULATE_LIVE": "0",
        "SIMULATE_BACKFILL": "0",
        "PUBLIC_RATE_LIMIT": "100000/minute",  # on, so its Redis window is in play too, but never reached
    }
    refresh = json.dumps(refresh_map_body("hangzhou")).encode()
    calls = [(path, None, {}) for path in PUBLIC_URLS]
    calls.append(("/_dash-update-component", refresh, {"Content-Type": "application/json"} | auth))
    try:
        with running_app(env, SESSION_DIR / "fault-redis.log", 120) as base:
            assert not load(base, calls, 1.0, 100).errors  # warm: every answer cached (in Redis too)
            baseline = load(base, calls, PHASE_S)
            assert _health(base)["status"] == "ok"
            os.kill(redis.process.pid, signal.SIGSTOP)
            try:
                frozen = load(base, calls, PHASE_S)
                frozen_health = _health(base)
            finally:
                os.kill(redis.process.pid, signal.SIGCONT)
            _until_ok(base, calls)  # Redis is used again after the breaker's retry period
            again = load(base, calls, PHASE_S)  # a second baseline: the machine's load drifts
            redis.stop()
            down = load(base, calls, PHASE_S)
            down_health = _health(base)
    finally:
        redis.stop()
    assert baseline.errors == [] and frozen.errors == [] and again.errors == [] and down.errors == []
    assert len(frozen.results) > 20 and len(down.results) > 20
    budget = 2 * max(baseline.p95(), again.p95(), 0.02)  # (a 20 ms floor: a few ms of noise is not a regression)
    ms = {name: round(phase.p95() * 1000, 1) for name, phase in [("baseline", baseline), ("again", again)]}
    ms |= {"frozen": round(frozen.p95() * 1000, 1), "down": round(down.p95() * 1000, 1)}
    print(f"p95 (ms) {ms}; requests frozen {len(frozen.results)}, down {len(down.results)}")
    assert frozen.p95() <= budget and down.p95() <= budget
    for health in (frozen_health, down_health):
        assert health["status"] == "degraded" and "redis" in health["degraded"], health.get("degraded")


def test_an_unreachable_redis_is_skipped_after_one_failure(monkeypatch):
    """The tiered cache answers from its local tier; after one failed call the breaker skips Redis
    (no call is made) until its retry period has passed."""
    import redis as redis_py

    from data import breaker
    from data.cache_tiers import TieredRedisCache, redis_options

    monkeypatch.setattr(breaker, "_breakers", {})  # a fresh "redis" breaker for this test
    server = servers.start_redis()
    cache = TieredRedisCache(host=redis_py.Redis.from_url(server.url, **redis_options(250)), retry_seconds=60)
    assert cache.set("k", [1, 2]) and not cache.breaker.is_open
    server.stop()
    cache.local.clear()
    started = time.perf_counter()
    assert cache.get("k") is None and not cache.has("k")  # Redis gone: a miss, not an error
    assert cache.breaker.is_open and "redis" in breaker.open_breakers()
    assert cache.set("k", [3]) is False and cache.get("k") == [3]  # kept locally only

    def no_call(*_args, **_kwargs):
        raise AssertionError("Redis called while the breaker is open")

    monkeypatch.setattr(cache._read_client, "get", no_call)
    monkeypatch.setattr(cache._write_client, "set", no_call)
    assert [cache.get(f"absent{i}") for i in range(50)] == [None] * 50
    assert cache.set("other", 1) is False and cache.add("more", 2) is True
    assert time.perf_counter() - started < 1.0
