"""The data layer's cache backends: objects kept as they are in the process, Redis shared behind them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import redis
from flask import Flask
from flask_caching import Cache

from data import cache_tiers
from data.cache_tiers import ObjectCache, TieredRedisCache, approx_bytes


def test_a_hit_is_the_same_object_not_a_copy():
    cache = ObjectCache()
    value = {"ci": [1.0, None, 2.5] * 1000}
    cache.set("k", value)
    assert cache.get("k") is value
    assert cache.get("missing") is None and not cache.has("missing")


def test_least_recently_used_entries_leave_first_within_the_byte_budget():
    one = [0.5] * 10_000  # ~400 kB estimated
    size = approx_bytes(one)
    cache = ObjectCache(max_bytes=int(size * 3.5))
    for key in "abc":
        cache.set(key, list(one))
    cache.get("a")  # a is now the most recently used
    cache.set("d", list(one))
    assert cache.has("a") and not cache.has("b") and cache.has("c") and cache.has("d")
    assert cache.size <= cache.max_bytes


def test_entry_count_is_bounded_too():
    cache = ObjectCache(threshold=3)
    for k in range(5):
        cache.set(str(k), k)
    assert [cache.has(str(k)) for k in range(5)] == [False, False, True, True, True]


def test_a_value_larger_than_half_the_budget_is_not_kept():
    cache = ObjectCache(max_bytes=100_000)
    cache.set("small", 1)
    assert cache.set("big", b"x" * 60_000) is False
    assert not cache.has("big") and cache.get("small") == 1


def test_entries_expire(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(cache_tiers.time, "monotonic", lambda: clock[0])
    cache = ObjectCache(default_timeout=10)
    cache.set("k", "v")
    cache.set("forever", "v", timeout=0)
    clock[0] += 9
    assert cache.get("k") == "v"
    clock[0] += 2
    assert cache.get("k") is None and not cache.has("k") and cache.get("forever") == "v"
    assert cache.size == approx_bytes("v")  # the expired entry no longer counts


def test_add_keeps_what_is_there():
    cache = ObjectCache()
    assert cache.add("k", 1) is True
    assert cache.add("k", 2) is False and cache.get("k") == 1
    assert cache.delete("k") and not cache.delete("k")
    cache.set("x", 1)
    cache.clear()
    assert not cache.has("x") and cache.size == 0


def test_size_estimates_are_in_the_right_range():
    floats = [float(i) / 7 for i in range(100_000)]
    assert 2.5e6 < approx_bytes(floats) < 5e6  # 8-byte slot + 24-byte float each
    assert approx_bytes(np.zeros(100_000)) == 800_000 + 112
    nested = {"n": 3, "stations": [{"aqi": 50, "conc": {"pm2_5": 10.0}}] * 1000}
    assert approx_bytes(nested) > 1000 * 100
    # text columns by a sample of their values, within a fifth of pandas' deep count (which visits them all)
    frame = pd.DataFrame(
        {"id": np.arange(30_000), "kind": ["traffic_accident"] * 30_000, "district": ["西湖区", None] * 15_000}
    )
    deep = 200 + int(frame.memory_usage(index=True, deep=True).sum())
    assert 0.8 * deep < approx_bytes(frame) < 1.2 * deep
    assert 0.8 * deep < approx_bytes(frame["kind"]) + approx_bytes(frame[["id", "district"]]) < 1.2 * deep


def _flask_cache(config: dict) -> tuple[Flask, Cache]:
    app = Flask(f"cache-{id(config)}")
    cache = Cache()
    cache.init_app(app, config=config)
    return app, cache


def test_memoize_over_the_object_cache_computes_once():
    app, cache = _flask_cache({"CACHE_TYPE": "data.cache_tiers.ObjectCache", "CACHE_DEFAULT_TIMEOUT": 60})
    calls = []

    @cache.memoize()
    def values(city: str) -> dict:
        calls.append(city)
        return {"ci": [1.5] * 10}

    with app.app_context():
        first = values("hangzhou")
        assert values("hangzhou") is first and calls == ["hangzhou"]
        values("shanghai")
        assert calls == ["hangzhou", "shanghai"]


def test_workers_share_values_through_redis_and_keep_their_own_copies(redis_server):
    config = {
        "CACHE_TYPE": "data.cache_tiers.TieredRedisCache",
        "CACHE_REDIS_URL": redis_server.url,
        "CACHE_DEFAULT_TIMEOUT": 60,
        "CACHE_KEY_PREFIX": "tier-test:",
    }
    (app1, cache1), (app2, cache2) = _flask_cache(dict(config)), _flask_cache(dict(config))
    raw = redis.Redis.from_url(redis_server.url)
    with app1.app_context():
        one = cache1.cache
        assert isinstance(one, TieredRedisCache)
        one.clear()
        one.set("values", {"ci": [2.0] * 100})
    with app2.app_context():
        two = cache2.cache
        got = two.get("values")  # from Redis: the other worker's value
        assert got == {"ci": [2.0] * 100}
        assert raw.exists("tier-test:values")
        raw.delete("tier-test:values")
        assert two.get("values") is got  # now from this worker's own copy, Redis not asked
        assert two.get_many("values", "nothing") == [got, None]
        assert two.add("values", "other") is False  # held locally: not replaced
    with app1.app_context():
        assert one.add("fresh", 1) is True and raw.exists("tier-test:fresh")
        assert one.has("fresh")
        one.clear()
        assert not one.has("fresh") and not raw.exists("tier-test:fresh")


def test_redis_values_are_kept_locally_no_longer_than_the_local_limit(redis_server, monkeypatch):
    clock = [5000.0]
    monkeypatch.setattr(cache_tiers.time, "monotonic", lambda: clock[0])
    cache = TieredRedisCache(
        host=redis.Redis.from_url(redis_server.url), key_prefix="tier-ttl:", default_timeout=600, local_seconds=30
    )
    cache.set("k", "v1")
    redis.Redis.from_url(redis_server.url).delete("tier-ttl:k")
    clock[0] += 29
    assert cache.get("k") == "v1"
    clock[0] += 2
    assert cache.get("k") is None  # the local copy expired and Redis no longer has it


@pytest.mark.parametrize("redis_url", [None, "redis://127.0.0.1:1/0"])
def test_the_data_layer_picks_the_tier_for_its_settings(redis_url):
    import dataclasses

    from data import access
    from data.config import load_settings

    config = access.cache_config(dataclasses.replace(load_settings(), redis_url=redis_url, cache_local_mb=64))
    assert config["CACHE_LOCAL_MAX_BYTES"] == 64 * 1024 * 1024
    expected = "TieredRedisCache" if redis_url else "ObjectCache"
    assert config["CACHE_TYPE"] == f"data.cache_tiers.{expected}"


def test_the_c_library_can_hand_freed_memory_back():
    """The background threads call it after each round; on Debian's glibc it must be available (the
    benchmark's per-worker RSS relies on it), elsewhere it is a no-op."""
    from data.jobs.memory import release_freed_memory

    assert release_freed_memory() is True


def test_frozen_start_up_objects_leave_full_collections_and_new_ones_do_not():
    """What a built app holds is frozen once (gunicorn.conf.py post_worker_init, the background process,
    `python app.py`): a full collection then walks only what was made since, and objects made later
    are still collected."""
    import gc
    import weakref

    from data.jobs.memory import freeze_startup_objects

    class Cycle:
        pass

    try:
        assert freeze_startup_objects() > 50_000  # this process's modules, fixtures and app
        assert len(gc.get_objects()) < 5_000
        later = Cycle()
        later.me = later  # cyclic garbage made after the freeze: the collector still reclaims it
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()


def test_one_cache_backend_per_process_for_both_apps_and_their_background_threads(dash_app):
    """The embed app uses the operator app's backend, and making it does not change the app Flask-Caching
    uses outside a request (the live view's threads): with init_app it became the embed server's, a
    second backend whose values were computed again and held beside the first."""
    from data import access
    from public.embed import create_embed_app

    embed = dash_app.server.extensions["citybrain_embed_app"]
    with dash_app.server.test_request_context("/"):
        operator = access.cache.cache
    with embed.server.test_request_context("/"):
        assert access.cache.cache is operator
    before = access.cache.app
    create_embed_app(dash_app.server)
    assert access.cache.app is before
