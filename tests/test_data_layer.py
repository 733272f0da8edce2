"""The data-access layer: store writes, simulator shape, cached reads and their keys.

Tests taking `backend` run twice: on the embedded SQLite store with the in-process cache, and on
PostgreSQL + PostGIS with the Redis cache (servers started by the session, see tests/servers.py).
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from data import access, store
from data.geo.cities import CITIES, UnknownCityError, get_city
from data.rules import clock
from data.sim import simulate

HANGZHOU = CITIES["hangzhou"]


def _weekday_at(hour_local: float) -> float:
    """An epoch second on the latest Wednesday (China time) at `hour_local`."""
    local_day = int((time.time() + clock.CST) // simulate.DAY)
    wednesday = local_day - (local_day + 3 - 2) % 7  # 1970-01-01 was a Thursday (weekday 3)
    return wednesday * simulate.DAY - clock.CST + hour_local * 3600


def test_frames_read_from_rows_hold_only_their_own_strings():
    """pandas builds a frame from rows through one 2-D object array and leaves string columns views of
    it: a cached sensor frame kept every value read, even columns dropped after the read. The read
    helpers give each string column its own array (and one object per repeated string), same values."""
    import gc
    import tracemalloc

    columns = ["id", "city", "district", "name", "length_m", "retired_at", "coords"]

    def rows() -> list[tuple]:  # made afresh, as a database driver makes them: only the frame keeps them
        return [
            (i, "hangzhou", f"district {i % 17}", f"road {i}", i * 1.5, None, f"[[{i}, 30.1]]") for i in range(20_000)
        ]

    def held(own: bool) -> tuple[int, pd.DataFrame]:
        gc.collect()
        tracemalloc.start()
        frame = pd.DataFrame(rows(), columns=columns)
        frame = (store._own_strings(frame) if own else frame).drop(columns=["coords"])
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return size, frame

    plain_bytes, plain = held(False)
    own_bytes, own = held(True)
    pd.testing.assert_frame_equal(own, plain, check_exact=True)
    assert own_bytes < plain_bytes / 2, (own_bytes, plain_bytes)
    assert len({id(v) for v in own["district"]}) == 17  # one object per district name


def test_weekday_helper_lands_on_a_wednesday():
    import datetime

    t = _weekday_at(12.0)
    local = datetime.datetime.fromtimestamp(t, datetime.timezone(datetime.timedelta(hours=8)))
    assert local.strftime("%A %H:%M") == "Wednesday 12:00"


# --- simulator --------------------------------------------------------------------------------


def test_simulated_traffic_has_a_morning_peak_and_quiet_nights(prepared):
    segs = simulate._segments_frame(store.get_engine(), HANGZHOU)
    t = np.array([_weekday_at(3.0), _weekday_at(8.25), _weekday_at(18.0)])
    speeds = simulate.traffic_speeds(HANGZHOU, segs, t)
    index = (segs["free_flow_kmh"].to_numpy()[None, :] / speeds).mean(axis=1)
    night, morning, evening = index
    assert night < 1.15
    assert 1.5 < morning < 2.3 and 1.5 < evening < 2.3


def test_simulator_is_deterministic(prepared):
    segs = simulate._segments_frame(store.get_engine(), HANGZHOU)
    t = np.array([_weekday_at(10.0)])
    assert np.array_equal(simulate.traffic_speeds(HANGZHOU, segs, t), simulate.traffic_speeds(HANGZHOU, segs, t))


def test_hangzhou_perceives_about_30000_events_a_day(prepared):
    engine = store.get_engine()
    places = simulate.incident_places(
        simulate._segments_frame(engine, HANGZHOU), store.sensors(engine, "parking", "hangzhou")
    )
    start = simulate.floor_bucket(_weekday_at(0.0))
    rows = [
        r
        for b in range(start, start + simulate.DAY, simulate.B)
        for r in simulate.incidents_for_bucket(HANGZHOU, b, places)
    ]
    assert 27_000 < len(rows) < 33_000  # report, ch. 3.2.1.2: "over 30,000 a day"
    cols = simulate.INCIDENT_COLUMNS
    reported, dispatched, on_scene, resolved = (
        np.array([r[cols.index(c)] for r in rows])
        for c in ("reported_at", "dispatched_at", "on_scene_at", "resolved_at")
    )
    assert (reported < dispatched).all() and (dispatched < on_scene).all() and (on_scene < resolved).all()
    urgent = np.array([r[cols.index("severity")] == 4 for r in rows])
    assert np.median((dispatched - reported)[urgent]) <= 60  # Haidian: answered within 60 s


def test_every_city_has_the_minimum_sensor_scale(backend):
    engine = backend.engine
    for key in CITIES:
        assert len(store.sensors(engine, "traffic", key)) >= 2000
        assert len(store.sensors(engine, "parking", key)) >= 500
        stations = store.sensors(engine, "air_quality", key)
        assert len(stations) >= 20
    real = store.sensors(engine, "air_quality", "hangzhou")
    assert (~real["simulated"].astype(bool)).sum() >= 10  # the real 2017 national stations are kept


def test_hangzhou_car_parks_add_up_to_the_reports_476000_spaces(backend):
    lots = store.sensors(backend.engine, "parking", "hangzhou")
    assert lots["capacity"].sum() == pytest.approx(476_000, rel=0.01)


def test_live_tick_adds_only_reported_incidents(backend):
    engine = backend.engine
    now = time.time()
    simulate.advance_city(engine, HANGZHOU, now)
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(store.incident.c.reported_at)).where(store.incident.c.city == "hangzhou")
        ).scalar()
    assert newest <= now


# --- store ------------------------------------------------------------------------------------


def test_observation_writes_are_idempotent_and_bump_the_revision(backend):
    engine = backend.engine
    seg = int(store.sensors(engine, "traffic", "xiongan")["id"].iloc[0])
    bucket = simulate.floor_bucket(time.time()) - 50 * simulate.DAY  # far outside the simulated window
    row = {"city": "xiongan", "bucket": bucket, "segment_id": seg, "speed_kmh": 33.0, "observed_at": bucket + 60}
    before = store.feed_states(engine, "xiongan")["traffic"][0]
    store.write_observations(engine, "xiongan", "traffic", [row])
    store.write_observations(engine, "xiongan", "traffic", [row | {"speed_kmh": 34.0}])
    rows = store.observations(engine, "traffic", "xiongan", bucket)
    assert len(rows) == 1 and rows["speed_kmh"].iloc[0] == 34.0
    assert store.feed_states(engine, "xiongan")["traffic"][0] == before + 2


@pytest.mark.parametrize(
    ("layer", "columns"),
    [
        ("traffic", ["segment_id", "speed_kmh", "observed_at"]),
        ("parking", ["lot_id", "occupied", "arrivals", "observed_at"]),
        ("air_quality", ["station_id", "pm25", "o3", "co", "observed_at"]),
    ],
)
def test_observation_values_are_the_observations_columns(backend, layer, columns):
    """The live arrays' fast read (driver tuples into numpy) gives what `observations` gives."""
    engine = backend.engine
    city = "hangzhou"
    bucket = store.latest_bucket_at_or_before(engine, layer, city, simulate.floor_bucket(time.time()))
    key = store.SENSOR_COLUMN[layer]
    table = store.OBSERVATION_TABLES[layer]
    first = store.observations(engine, layer, city, bucket).sort_values(key).iloc[0]
    one = (table.c.city == city, table.c.bucket == bucket, table.c[key] == int(first[key]))
    if layer == "air_quality":  # a missing pollutant reading is NULL: it must come back as NaN
        with engine.begin() as conn:
            conn.execute(table.update().where(*one).values(o3=None))
    try:
        expected = store.observations(engine, layer, city, bucket)[columns].sort_values(key, ignore_index=True)
        got = store.observation_values(engine, layer, city, bucket, columns).sort_values(key, ignore_index=True)
    finally:
        if layer == "air_quality":
            with engine.begin() as conn:
                conn.execute(table.update().where(*one).values(o3=None if pd.isna(first["o3"]) else float(first["o3"])))
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, expected.astype({c: float for c in columns if expected[c].dtype == object}))
    if layer == "air_quality":
        assert np.isnan(got["o3"].iloc[0])


def test_a_failing_batch_writes_nothing(backend):
    engine = backend.engine
    bucket = simulate.floor_bucket(time.time()) - 60 * simulate.DAY
    good = {"city": "xiongan", "bucket": bucket, "segment_id": 1, "speed_kmh": 30.0, "observed_at": bucket}
    bad = good | {"segment_id": 2, "speed_kmh": None}  # NOT NULL violation part-way through the batch
    before = store.feed_states(engine, "xiongan")["traffic"][0]
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        store.write_observations(engine, "xiongan", "traffic", [good, bad])
    assert store.observations(engine, "traffic", "xiongan", bucket).empty
    assert store.feed_states(engine, "xiongan")["traffic"][0] == before


# --- access layer -----------------------------------------------------------------------------


def test_unknown_city_is_a_clear_error(prepared):
    with pytest.raises(UnknownCityError):
        get_city("atlantis")
    assert get_city("Xiong-an").key == "xiongan"


def test_live_values_align_with_the_geometry(backend):
    at = int(time.time())
    values = access.live_values("hangzhou", at)
    roads = json.loads(access.geometry_json("hangzhou", "roads"))["features"]
    lots = json.loads(access.geometry_json("hangzhou", "parking"))["features"]
    assert values["traffic"]["n"] == len(values["traffic"]["ci"]) == len(roads)
    assert values["parking"]["n"] == len(values["parking"]["occ"]) == len(lots)
    assert [f["properties"]["i"] for f in roads] == list(range(len(roads)))
    assert all(ci is None or ci >= 1.0 for ci in values["traffic"]["ci"])
    assert all(o is None or 0 <= o <= 100 for o in values["parking"]["occ"])
    station = values["air_quality"]["stations"][0]
    assert set(station["iaqi"]) == {"pm25", "pm10", "o3", "no2", "so2", "co"}


def test_reads_are_cached_and_keys_differ_by_parameter(backend, monkeypatch):
    calls = []
    original = store.observations

    def counting(engine, layer, city, bucket):
        calls.append((layer, city, bucket))
        return original(engine, layer, city, bucket)

    monkeypatch.setattr(store, "observations", counting)
    at = int(time.time()) - 3 * 3600
    access.cache.clear()
    first = access.live_values("hangzhou", at)
    n_first = len(calls)
    assert n_first > 0
    again = access.live_values("hangzhou", at)
    assert len(calls) == n_first and again == first  # served from the cache
    access.live_values("shanghai", at)  # another city: another key
    assert any(c[1] == "shanghai" for c in calls[n_first:])
    n_city = len(calls)
    access.live_values("hangzhou", at - 3600)  # another bucket: another key
    assert len(calls) > n_city


def test_a_write_invalidates_the_cached_entry(backend):
    engine = backend.engine
    at = int(time.time()) - 2 * 3600
    bucket = simulate.floor_bucket(at)
    before = access.live_values("guangzhou", at)["traffic"]
    obs = store.observations(engine, "traffic", "guangzhou", bucket)
    first = obs.iloc[0]
    store.write_observations(
        engine,
        "guangzhou",
        "traffic",
        [
            {
                "city": "guangzhou",
                "bucket": bucket,
                "segment_id": int(first.segment_id),
                "speed_kmh": 3.0,
                "observed_at": int(first.observed_at),
            }
        ],
    )
    after = access.live_values("guangzhou", at)["traffic"]
    segs = store.sensors(engine, "traffic", "guangzhou")
    i = int(np.flatnonzero(segs["id"].to_numpy() == int(first.segment_id))[0])
    assert after["ci"][i] != before["ci"][i]
    assert after["ci"][i] == pytest.approx(segs["free_flow_kmh"].iloc[i] / 3.0, rel=0.01)


def test_kpis_have_units_yesterday_and_freshness(backend):
    at = int(time.time())
    kpis = {k.key: k for k in access.kpis("hangzhou", at)}
    assert set(kpis) == {
        "congestion_index",
        "mean_speed",
        "parking_occupancy",
        "free_spaces",
        "city_aqi",
        "worst_station",
        "open_incidents",
        "incidents_today",
        "median_dispatch",
    }
    assert kpis["mean_speed"].unit == "km/h" and 5 < kpis["mean_speed"].value < 80
    assert 0 < kpis["parking_occupancy"].value < 100
    assert kpis["city_aqi"].value is not None and kpis["city_aqi"].previous is not None
    assert kpis["open_incidents"].value > 0
    assert not kpis["mean_speed"].stale
    assert kpis["worst_station"].value >= kpis["city_aqi"].value - 60


def test_worst_station_is_named_in_both_languages(backend):
    """The worst-station card names its station in English and Chinese (the English UI showed the
    Chinese name): Beijing's stations are the real list, with both names."""
    from data import store

    kpis = {k.key: k for k in access.kpis("beijing", int(time.time()))}
    en, zh = kpis["worst_station"].detail
    stations = store.sensors(store.get_engine(), "air_quality", "beijing")
    row = stations[stations["name_zh"] == zh]
    assert len(row) == 1 and en == row["name_en"].iloc[0] and en != zh and en.isascii()
    for missing in ("", None, float("nan")):  # a station without an English name keeps its Chinese one
        assert access.station_names(pd.Series({"name_zh": "东四", "name_en": missing})) == ("东四", "东四")


def test_yesterdays_kpis_are_not_computed_again_at_each_feed_revision(backend, monkeypatch):
    """ "vs yesterday" comes from settled history, kept 6 h: a new revision of every feed (a simulator
    tick) makes the KPIs read today's buckets and incidents again, not yesterday's, nor the car parks'
    occupancy a day back that the next-hour forecast uses (issue 17)."""
    at = int(time.time())
    before = {k.key: k.previous for k in access.kpis("hangzhou", at)}
    buckets, days, read = [], [], []
    latest, between, values = store.latest_bucket_at_or_before, store.incidents_between, store.observation_values
    test_thread = threading.get_ident()

    def note(calls: list[int], value: int) -> None:
        # Only this test's reads: a worker's live-view thread may compute another instant meanwhile.
        if threading.get_ident() == test_thread:
            calls.append(value)

    monkeypatch.setattr(
        store, "observation_values", lambda e, layer, c, b, *a: note(read, b) or values(e, layer, c, b, *a)
    )
    monkeypatch.setattr(
        store, "latest_bucket_at_or_before", lambda e, layer, c, b: note(buckets, b) or latest(e, layer, c, b)
    )
    monkeypatch.setattr(
        store, "incidents_between", lambda e, c, start, *a, **k: note(days, start) or between(e, c, start, *a, **k)
    )
    with backend.engine.begin() as conn:
        for layer in store.LAYERS:
            store.bump_feed(conn, "hangzhou", layer, None)
    after = {k.key: k.previous for k in access.kpis("hangzhou", at)}
    assert after == before
    yesterday = clock.floor_bucket(at - simulate.DAY)
    assert buckets and all(b > yesterday + 3600 for b in buckets)  # today's layers were computed again
    assert clock.local_day_start(at - simulate.DAY) not in days
    assert read and all(b > yesterday + 3600 for b in read)


def test_kpis_turn_stale_when_the_data_stops(backend):
    future = int(time.time()) + 3 * 3600  # nothing has been observed for three hours by then
    kpis = {k.key: k for k in access.kpis("hangzhou", future)}
    assert kpis["mean_speed"].stale and kpis["city_aqi"].stale


def test_history_time_resolution():
    now = 1_700_000_000.0
    window = access.history_window(now)
    assert window.steps == 7 * 96
    assert access.resolve_at("live", 3, now) == int(now)
    assert access.resolve_at("history", 0, now) == window.first_bucket + simulate.B - 1
    assert access.resolve_at("history", 10_000, now) == int(now)  # clamped to the present


def test_older_history_is_written_in_short_transactions_and_leaves_no_gap(tmp_path, monkeypatch):
    """A backfill writes a few hours per call (a week in one transaction held SQLite's write lock past
    the workers' busy timeout), newest first, and still fills every bucket for every segment."""
    engine = store.get_engine(f"sqlite:///{tmp_path / 'backfill.db'}")
    store.create_schema(engine)
    city = CITIES["xiongan"]
    simulate.ensure_sensors(engine, city, lambda _m: None)
    now = clock.floor_bucket(time.time())
    simulate.advance_city(engine, city, now, lambda _m: None, history_days=0.25)
    monkeypatch.setattr(simulate, "HISTORY_DAYS", 1)
    spans: list[tuple[int, int]] = []
    write = simulate._write_buckets

    def recording(engine_, city_, first, end, now_, *args, **kwargs):
        spans.append((first, end))
        return write(engine_, city_, first, end, now_, *args, **kwargs)

    monkeypatch.setattr(simulate, "_write_buckets", recording)
    simulate.backfill_city(engine, city, now)
    assert len(spans) >= 3, spans
    assert all(end - first <= simulate.BACKFILL_CHUNK_SECONDS + clock.HOUR for first, end in spans), spans
    assert all(a[0] == b[1] for a, b in itertools.pairwise(spans)), "chunks must join without gap, newest first"
    start = clock.floor_bucket(now - simulate.DAY)
    assert spans[-1][0] == start and int(store.get_meta(engine, "sim_oldest:xiongan")) == start
    with engine.connect() as con:
        t = store.traffic_obs
        per_bucket = con.execute(
            select(t.c.bucket, func.count()).where(t.c.city == "xiongan", t.c.bucket < now).group_by(t.c.bucket)
        ).all()
    counts = {bucket: n for bucket, n in per_bucket}
    assert sorted(counts) == list(range(start, now, clock.BUCKET_SECONDS))
    assert len(set(counts.values())) == 1, "every bucket holds every segment"
