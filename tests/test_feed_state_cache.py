"""store.recent_feed_states: revisions kept briefly per process, never older than a write made here.

Public answers are cached per feed revision; these tests hold the revision look-up to its promise:
at most `max_age` seconds old for other processes' writes, and a write in this process seen at once,
including one whose transaction is still open while others read.
"""

from __future__ import annotations

import time

from data import store
from data.sim import simulate


def _row(engine, bucket_days: int, speed: float) -> dict:
    seg = int(store.sensors(engine, "traffic", "xiongan")["id"].iloc[0])
    bucket = simulate.floor_bucket(time.time()) - bucket_days * simulate.DAY  # outside the simulated window
    return {"city": "xiongan", "bucket": bucket, "segment_id": seg, "speed_kmh": speed, "observed_at": bucket + 60}


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = store.feed_states

    def counted(engine, city):
        calls.append(city)
        return real(engine, city)

    monkeypatch.setattr(store, "feed_states", counted)
    return calls


def test_revisions_are_read_once_per_max_age(backend, monkeypatch):
    engine = backend.engine
    for _attempt in range(5):  # the session's live simulator writes in this process now and then
        generation = store._feed_generation
        store.recent_feed_states(engine, "xiongan", max_age=60)  # whatever was kept before: now kept afresh
        calls = _counting(monkeypatch)
        first = store.recent_feed_states(engine, "xiongan", max_age=60)
        again = store.recent_feed_states(engine, "xiongan", max_age=60)
        if store._feed_generation == generation:  # no write in between: what was kept must be used
            break
    assert again == first
    assert calls == []  # kept
    assert store.recent_feed_states(engine, "xiongan", max_age=0) == first
    assert calls == ["xiongan"]  # too old for this caller: read again
    store.recent_feed_states(engine, "shenzhen", max_age=60)
    assert calls == ["xiongan", "shenzhen"]  # kept per city


def test_a_write_in_this_process_shows_at_once(backend):
    engine = backend.engine
    before = store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0]
    assert store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0] == before
    store.write_observations(engine, "xiongan", "traffic", [_row(engine, 70, 31.0)])
    assert store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0] == before + 1
    assert store.feed_states(engine, "xiongan")["traffic"][0] == before + 1


def test_reads_during_an_open_write_are_not_kept(backend):
    """Between the bump and the commit, a reader sees the old revision (its own snapshot) but must not
    keep it: once the write's connection is returned, the next read shows the new revision."""
    engine = backend.engine
    before = store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0]
    with engine.begin() as conn:
        store.bump_feed(conn, "xiongan", "traffic", None)
        during = store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0]
        assert during == before  # not committed yet
    assert store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0] == before + 1


def test_a_rolled_back_write_leaves_the_revision_readable(backend):
    engine = backend.engine
    before = store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0]
    try:
        with engine.begin() as conn:
            store.bump_feed(conn, "xiongan", "traffic", None)
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert store.recent_feed_states(engine, "xiongan", max_age=3600)["traffic"][0] == before
    assert not store._feed_writes  # the write is over: reads are kept again
