"""The scaled deployment: PostgreSQL + PostGIS, Redis and gunicorn, on servers the session starts.

PostGIS must do real work (geometry columns, GiST indexes, bbox filters, GeoJSON); the open data
API's bbox, ingest (quarantine, duplicates, all-or-nothing, concurrent writers) must behave the same
on both stores (`backend` runs a test on each); Redis must be shared by processes (cache and the
public rate limit); and `gunicorn -w 2 app:server` must serve the app from PostgreSQL and Redis.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest
import redis
from sqlalchemy import delete, func, select, text, update

from data import access, store, users
from data.feeds import ingest
from data.feeds.ingest import utc_iso
from public import data as public_data
from public.settings import load_public_settings
from tests.conftest import PROJECT, SESSION_DIR, refresh_map_body, running_app

BBOX = (120.1, 30.2, 120.2, 30.3)  # central Hangzhou


def _inside(lon: float, lat: float, bbox=BBOX) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


# --- PostGIS ------------------------------------------------------------------------------------


def test_postgis_has_geometry_columns_and_gist_indexes(pg_prepared):
    engine = store.get_engine(pg_prepared)
    assert store.is_spatial(engine)
    with engine.connect() as conn:
        for table, (kind, _) in store.migrations.SPATIAL_COLUMNS.items():
            found = conn.execute(
                text("SELECT type, srid FROM geometry_columns WHERE f_table_name = :t AND f_geometry_column = 'geom'"),
                {"t": table},
            ).one()
            assert tuple(found) == (kind.upper(), 4326)
            index = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexname = :i"),
                {"t": table, "i": f"ix_{table}_geom"},
            ).scalar()
            assert index is not None and "USING gist (geom)" in index
        # The database derives each geometry from the columns the writers fill.
        lon, lat, x, y = conn.execute(text("SELECT lon, lat, ST_X(geom), ST_Y(geom) FROM incident LIMIT 1")).one()
        assert (x, y) == (lon, lat)
        encoded, coords = conn.execute(
            text("SELECT ST_AsGeoJSON(geom, 6), coords FROM road_segment WHERE city = 'hangzhou' ORDER BY id LIMIT 1")
        ).one()
        assert json.loads(encoded)["coordinates"] == json.loads(coords)


def test_the_embedded_store_has_no_geometry_columns(prepared):
    assert not store.is_spatial(store.get_engine())


def test_postgresql_without_postgis_works_like_the_embedded_store(pg_server, monkeypatch):
    """A role that may not CREATE EXTENSION postgis (not a trusted extension) gets no geometry
    columns; the bbox is then filtered by the app, as on SQLite."""
    import psycopg

    from data.geo.cities import CITIES
    from data.sim import simulate

    with psycopg.connect(pg_server.url(driver="postgresql"), autocommit=True) as conn:
        conn.execute("CREATE ROLE plain LOGIN")
        conn.execute("CREATE DATABASE plain OWNER plain")
    url = pg_server.url("plain").replace("citybrain@", "plain@")
    engine = store.get_engine(url)
    store.create_schema(engine)  # tries CREATE EXTENSION postgis, is refused, goes on without it
    assert not store.is_spatial(engine) and store.get_meta(engine, "schema_version") == store.SCHEMA_VERSION
    simulate.ensure_sensors(engine, CITIES["hangzhou"], lambda _m: None)
    simulate.advance_city(engine, CITIES["hangzhou"], time.time(), None, 1 / 24)
    with pytest.raises(ValueError, match="PostGIS"):
        store.count_observations_between(engine, "traffic", "hangzhou", 0, 2**31 - 1, bbox=BBOX)
    monkeypatch.setenv("DATABASE_URL", url)
    public_data.clear_caches()
    coll = public_data.COLLECTIONS["traffic"]
    features, matched = public_data.observation_items(coll, "hangzhou", BBOX, public_data.Window(), 0, 10_000)
    expected = set(public_data.sensors("hangzhou", "traffic").ids_in(BBOX))
    assert matched == len(features) == len(expected) > 0
    public_data.clear_caches()


def test_imported_roads_get_their_geometry_on_postgis(pg_server, monkeypatch):
    import geopandas as gpd
    import shapely

    monkeypatch.setenv("DATABASE_URL", pg_server.create_database("roads"))
    roads = gpd.GeoDataFrame(
        {"name": ["A", "B"], "road_class": ["primary", "secondary"], "lanes": [2, 1], "free_flow_kmh": [50.0, 40.0]},
        geometry=[
            shapely.LineString([(115.90, 39.00), (115.95, 39.01)]),
            shapely.LineString([(116.00, 39.05), (116.02, 39.06)]),
        ],
        crs="EPSG:4326",
    )
    assert store.replace_road_segments("xiongan", roads) == 2  # the importer's write (python -m cli.import_roads)
    engine = store.get_engine()
    assert store.is_spatial(engine)
    [hit] = store.sensor_ids_in_bbox(engine, "traffic", "xiongan", (115.89, 38.99, 115.96, 39.02))
    encoded = store.sensors(engine, "traffic", "xiongan", geojson=True).set_index("id").loc[hit, "geojson"]
    assert json.loads(encoded)["coordinates"] == [[115.9, 39.0], [115.95, 39.01]]


def test_geometry_is_encoded_by_the_database_on_postgis(backend):
    roads = store.sensors(backend.engine, "traffic", "hangzhou", geojson=True)
    assert ("geojson" in roads) == (backend.name == "postgresql")
    features = json.loads(access.geometry_json("hangzhou", "roads"))["features"]
    assert len(features) == len(roads)
    assert features[0]["geometry"] == {"type": "LineString", "coordinates": json.loads(roads["coords"].iloc[0])}
    lots = json.loads(access.geometry_json("hangzhou", "parking"))["features"]
    assert lots[3]["geometry"]["coordinates"] == pytest.approx([float(x) for x in _lonlat(backend, 3)], abs=1e-6)


def _lonlat(backend, k: int) -> tuple[float, float]:
    lots = store.sensors(backend.engine, "parking", "hangzhou")
    return lots["lon"].iloc[k], lots["lat"].iloc[k]


# --- the open data API's bbox on both stores ----------------------------------------------------


@pytest.mark.parametrize("collection", ["traffic", "parking"])
def test_ogc_bbox_selects_the_sensors_intersecting_it(backend, monkeypatch, collection):
    coll = public_data.COLLECTIONS[collection]
    expected = set(public_data.sensors("hangzhou", coll.layer).ids_in(BBOX))  # shapely on the cached shapes
    assert 0 < len(expected) < len(public_data.sensors("hangzhou", coll.layer).ids)
    if backend.name == "postgresql":
        assert set(store.sensor_ids_in_bbox(backend.engine, coll.layer, "hangzhou", BBOX)) == expected

        def python_filter(*_args):
            raise AssertionError("bbox filtered in Python although PostGIS is there")

        monkeypatch.setattr(public_data.Sensors, "ids_in", python_filter)
    at = int(time.time()) - 3600
    window = public_data.Window(start=at, end=at, instant=True, given=True)
    features, matched = public_data.observation_items(coll, "hangzhou", BBOX, window, 0, 10_000)
    column = store.SENSOR_COLUMN[coll.layer]
    assert matched == len(features) == len(expected)
    assert {f["properties"][column] for f in features} == expected
    page, again = public_data.observation_items(coll, "hangzhou", BBOX, window, 5, 7)
    assert again == matched and [f["id"] for f in page] == [f["id"] for f in features[5:12]]


def test_ogc_bbox_selects_incident_notices_by_their_published_location(backend):
    at = int(time.time()) - 600
    window = public_data.Window(start=at, end=at, instant=True, given=True)
    inside, matched = public_data.incident_items("hangzhou", BBOX, window, 0, 100_000)
    everything, total = public_data.incident_items("hangzhou", None, window, 0, 100_000)
    assert 0 < matched == len(inside) < total == len(everything)
    assert all(_inside(*f["geometry"]["coordinates"]) for f in inside)
    assert {f["id"] for f in inside} == {f["id"] for f in everything if _inside(*f["geometry"]["coordinates"])}


def test_an_ingested_incident_is_found_by_bbox_at_once(backend):
    ref = f"bbox-test-{backend.name}-{time.time_ns()}"
    t = int(time.time()) - 60
    row = {"ref": ref, "kind": "road_obstruction", "severity": 2, "lon": 120.15, "lat": 30.25, "reported_at": t}
    assert ingest.ingest_rows("incidents", [row], "json").accepted == 1
    near, far, columns = (120.14, 30.24, 120.16, 30.26), (120.0, 30.0, 120.01, 30.01), ("id", "reported_at", "lon")
    found = store.incidents_page(backend.engine, "hangzhou", columns, start=t, end=t, bbox=near)
    assert (found["lon"] == 120.15).any()
    missed = store.incidents_page(backend.engine, "hangzhou", columns, start=t, end=t, bbox=far)
    assert not (missed["lon"] == 120.15).any()


def test_a_session_is_renewed_up_to_its_most_age_on_both_stores(backend):
    """The sliding session's SQL (the smaller of the new end and sign-in + most age) on both stores."""
    from data.store import operations

    sid, now = f"renew-{backend.name}-{time.time_ns()}", int(time.time())
    users.add_user("renewer", "operator", "a long enough password")
    operations.start_session(backend.engine, sid, "renewer", now, now + 100)
    assert operations.renew_session(backend.engine, sid, now + 50, now + 150, 1000) == now + 150
    assert operations.renew_session(backend.engine, sid, now + 140, now + 2000, 1000) == now + 1000  # capped
    assert operations.renew_session(backend.engine, sid, now + 1000, now + 3000, 1000) is None  # ended
    assert operations.renew_session(backend.engine, "no-such-session", now, now + 100, 1000) is None


def test_a_days_incidents_are_those_reported_in_it_or_carried_into_it_on_both_stores(backend):
    """store.incidents_between and the incident trend rows read three index ranges (issue 17): the same
    rows as the one OR they replace, on both stores, for each way an incident can be in or out."""
    from data.store import incident, read_frame

    start = int(time.time()) // 86400 * 86400 - 10 * 86400
    end, tag = start + 86400, f"carry-{backend.name}-{time.time_ns()}"
    cases = {  # ref: (reported_at, closed_at, in the day?)
        "open": (start - 3 * 86400, None, True),
        "closed-later": (start - 2 * 86400, start + 100, True),
        "closed-before": (start - 2 * 86400, start - 100, False),
        "reported-in": (start + 50, start + 60, True),
        "reported-after": (end + 100, None, False),
    }
    columns = ["ref", "city", "kind", "severity", "lon", "lat", "district", "reported_at", "closed_at", "source",
               "simulated", "crew"]  # fmt: skip
    rows = [(f"{tag}-{k}", "xiongan", "fire", 2, 115.9, 39.0, "", r, c, "test", False, "operator")
            for k, (r, c, _) in cases.items()]  # fmt: skip
    store.insert_incidents_once(backend.engine, "xiongan", columns, rows)
    try:
        c = incident.c
        one_or = read_frame(
            backend.engine,
            select(c.ref).where(
                c.city == "xiongan",
                c.reported_at <= end,
                (c.reported_at >= start) | c.closed_at.is_(None) | (c.closed_at > start),
            ),
        )
        day = store.incidents_between(backend.engine, "xiongan", start, end, open_at=start)
        assert sorted(day["ref"]) == sorted(one_or["ref"]) and day["id"].is_unique
        assert {r for r in day["ref"] if r.startswith(tag)} == {f"{tag}-{k}" for k, v in cases.items() if v[2]}
        assert day["simulated"].dtype == bool
        trend = store.trend_rows(backend.engine, "incidents", "xiongan", start, end)
        assert len(trend) == len(one_or)
    finally:
        with backend.engine.begin() as conn:
            conn.execute(incident.delete().where(incident.c.ref.like(f"{tag}-%")))


def test_a_day_read_again_after_writes_is_the_same_as_reading_it_whole_on_both_stores(backend, monkeypatch):
    """A day's incidents read again at a new feed revision take only the rows written since, unless a
    row read before changed (its version) or went: then the day is read whole (issue 17)."""
    from data.store import incident

    start = int(time.time()) // 86400 * 86400 - 12 * 86400
    tag, revision = f"grow-{backend.name}-{time.time_ns()}", time.time_ns()
    columns = ["ref", "city", "kind", "severity", "lon", "lat", "district", "reported_at", "closed_at", "source",
               "simulated", "crew"]  # fmt: skip

    def add(*names: str, closed: int | None = None) -> None:
        rows = [(f"{tag}-{n}", "xiongan", "fire", 2, 115.9, 39.0, "", start + 60 * k, closed, "test", False,
                 "operator") for k, n in enumerate(names, 1)]  # fmt: skip
        store.insert_incidents_once(backend.engine, "xiongan", columns, rows)

    monkeypatch.setattr(access, "_oldest_live_day", lambda: start)  # the day is held as today's would be
    whole_reads = []
    real = store.incidents_between
    monkeypatch.setattr(
        store, "incidents_between", lambda *a, **k: whole_reads.append(k.get("after_id") is None) or real(*a, **k)
    )

    def read_again() -> pd.DataFrame:
        nonlocal revision
        revision += 1
        got = access._incident_day.uncached("xiongan", start, revision)
        whole = real(backend.engine, "xiongan", start, start + 86400, open_at=start)
        pd.testing.assert_frame_equal(
            got.sort_values("id", ignore_index=True), whole.sort_values("id", ignore_index=True)
        )
        return got

    try:
        add("a", "b")
        assert {r for r in read_again()["ref"] if r.startswith(tag)} == {f"{tag}-a", f"{tag}-b"}
        assert whole_reads == [True]  # the first read of the day
        add("c", closed=start + 3000)
        assert f"{tag}-c" in set(read_again()["ref"]) and whole_reads[1:] == [False]  # only the new rows
        read_again()
        assert whole_reads[2:] == [False]
        with backend.engine.begin() as conn:  # an operator's change: the row's version goes up
            conn.execute(update(incident).where(incident.c.ref == f"{tag}-a")
                         .values(closed_at=start + 900, version=incident.c.version + 1))  # fmt: skip
        day = read_again()
        assert whole_reads[3:] == [True] and day.loc[day["ref"] == f"{tag}-a", "closed_at"].item() == start + 900
        with backend.engine.begin() as conn:
            conn.execute(delete(incident).where(incident.c.ref == f"{tag}-b"))
        assert f"{tag}-b" not in set(read_again()["ref"]) and whole_reads[4:] == [True]
        # A day browsed in History is not kept (its frame would sit outside the cache's size budget).
        monkeypatch.setattr(access, "_oldest_live_day", lambda: start + 86400)
        read_again()
        assert [k for k in access._held_days if k[1:] == ("xiongan", start)] == []
        read_again()
        assert whole_reads[-1] is True
    finally:
        with backend.engine.begin() as conn:
            conn.execute(incident.delete().where(incident.c.ref.like(f"{tag}-%")))


# --- ingest on both stores ----------------------------------------------------------------------


def _segment(backend, k: int = 7) -> tuple[int, str]:
    """(key, source id) of one of Beijing's road segments."""
    row = store.sensors(backend.engine, "traffic", "beijing").iloc[k]
    return int(row["id"]), str(row["source_id"])


def test_ingest_quarantines_bad_rows_and_stores_a_row_once(backend):
    engine, (seg, sid) = backend.engine, _segment(backend)
    t = int(time.time()) - 2 * 86400 - 300  # a bucket the simulator never wrote (26 h of history)
    rows = [
        {"segment_id": sid, "speed_kmh": 41.5, "observed_at": utc_iso(t)},
        {"segment_id": sid, "speed_kmh": -3, "observed_at": utc_iso(t)},
        {"segment_id": 99_999_999, "speed_kmh": 30, "observed_at": utc_iso(t)},
        {"segment_id": sid, "speed_kmh": "fast", "observed_at": utc_iso(t)},
    ]
    quarantined = _count(engine, store.ingest_rejection)
    result = ingest.ingest_rows("traffic", rows, "json")
    assert (result.accepted, result.duplicates) == (1, 0)
    assert [r["index"] for r in result.rejected] == [1, 2, 3]
    assert _count(engine, store.ingest_rejection) == quarantined + 3
    assert any('"fast"' in raw for raw in store.latest_rejections(engine, 3)["raw"])
    stored = store.observations(engine, "traffic", "beijing", store.bucket_of(t)).set_index("segment_id")
    assert stored.loc[seg, "speed_kmh"] == 41.5
    again = ingest.ingest_rows("traffic", rows[:1] * 2, "json")
    assert (again.accepted, again.duplicates) == (0, 2)


def test_an_ingest_batch_is_all_or_nothing(backend, monkeypatch):
    engine, (_seg, sid) = backend.engine, _segment(backend, 8)
    t = int(time.time()) - 2 * 86400 - 1200
    batches = _count(engine, store.ingest_batch)

    def exploding(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "bump_feed", exploding)  # fails after the rows were written
    with pytest.raises(RuntimeError):
        ingest.ingest_rows("traffic", [{"segment_id": sid, "speed_kmh": 22.0, "observed_at": t}], "json")
    monkeypatch.undo()
    assert t not in set(store.observations(engine, "traffic", "beijing", store.bucket_of(t))["observed_at"])
    assert _count(engine, store.ingest_batch) == batches


def test_concurrent_ingest_loses_nothing_and_duplicates_nothing(backend):
    engine = backend.engine
    frame = store.sensors(engine, "traffic", "beijing").iloc[:200]
    segs = frame["id"].tolist()
    t = int(time.time()) - 2 * 86400 - 2400
    rows = [{"segment_id": s, "speed_kmh": 30.0 + k % 7, "observed_at": t} for k, s in enumerate(frame["source_id"])]
    results, errors = [], []

    def writer(chunk):
        try:
            results.append(ingest.ingest_rows("traffic", chunk, "json"))
        except Exception as exc:
            errors.append(exc)

    chunks = [rows[:100], rows[50:150], rows[100:], rows[:50] + rows[150:]]  # every row sent twice
    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.accepted for r in results) == len(rows)
    assert sum(r.duplicates for r in results) == len(rows)
    stored = store.observations(engine, "traffic", "beijing", store.bucket_of(t))
    assert set(stored.loc[stored["observed_at"] == t, "segment_id"]) == set(segs)


def test_concurrent_writes_to_a_new_feed_count_every_revision(backend):
    engine, city = backend.engine, f"t{time.time_ns() % 10**12}"  # a feed nobody has written yet
    bucket = store.bucket_of(time.time()) - 40 * 86400
    errors = []

    def write(k: int) -> None:
        row = {"city": city, "bucket": bucket, "segment_id": k, "speed_kmh": 30.0, "observed_at": bucket + k}
        try:
            store.write_observations(engine, city, "traffic", [row])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.feed_states(engine, city)["traffic"] == (8, bucket + 8)
    with engine.begin() as conn:
        conn.execute(store.traffic_obs.delete().where(store.traffic_obs.c.city == city))
        conn.execute(store.feed_state.delete().where(store.feed_state.c.city == city))


# --- Redis --------------------------------------------------------------------------------------

OTHER_WORKER = """
import json, sys
from flask import Flask
from data import access
from data.config import load_settings
app = Flask("another-worker")
access.cache.init_app(app, config=access.cache_config(load_settings()))
with app.app_context():
    values = access.live_values("xiongan", int(sys.argv[1]))
print(json.dumps(values["traffic"]["kpi"]))
"""


def test_two_processes_share_the_redis_cache(pg_prepared, redis_server, pg_cache_app, monkeypatch):
    env = {"DATABASE_URL": pg_prepared, "REDIS_URL": redis_server.url}
    at = int(time.time()) - 5 * 3600
    with pg_cache_app.app_context():
        access.cache.clear()
    done = subprocess.run(
        [sys.executable, "-c", OTHER_WORKER, str(at)],
        cwd=PROJECT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    computed = json.loads(done.stdout.strip().splitlines()[-1])
    assert redis.Redis.from_url(redis_server.url).keys("citybrain:*")  # the other process wrote there
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    calls = []
    original = store.observations
    monkeypatch.setattr(store, "observations", lambda *a, **k: calls.append(a) or original(*a, **k))
    with pg_cache_app.app_context():
        values = access.live_values("xiongan", at)
    assert calls == []  # served from what the other process cached
    assert values["traffic"]["kpi"] == computed


def test_public_rate_limit_is_one_budget_across_workers_through_redis(redis_server):
    from data.config import load_settings
    from tests.test_public_security import tiny_limited_app

    core = dataclasses.replace(load_settings(), redis_url=redis_server.url)
    public = dataclasses.replace(load_public_settings(), rate_limit=(3, 3600))
    workers = [tiny_limited_app(core, public) for _ in range(2)]  # two limiters, two Redis clients
    ip = "198.51.100.7"
    answers = [workers[k % 2].get("/api/ogc/conformance", environ_base={"REMOTE_ADDR": ip}) for k in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 3600
    assert answers[3].get_json()["code"] == "TooManyRequests"
    other = workers[0].get("/api/ogc/conformance", environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_code == 200  # another client has its own budget
    assert redis.Redis.from_url(redis_server.url).keys("*LIMITER*")  # the budget lives in Redis


# --- gunicorn -----------------------------------------------------------------------------------


def _get(url: str, **kwargs) -> tuple[int, bytes]:
    request = urllib.request.Request(url, **kwargs)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _operator_token(url: str) -> dict[str, str]:
    """An operator with a bearer token in the PostgreSQL store (the operator routes need sign-in)."""
    import hashlib
    import secrets

    from data.store import operations as ops_store

    engine = store.get_engine(url)
    store.create_schema(engine)
    token, now = "cb_" + secrets.token_urlsafe(32), int(time.time())
    ops_store.save_user(engine, "gunicorn.operator", "operator", "unused-hash", "tests", now)
    ops_store.add_token(engine, "gunicorn.operator", hashlib.sha256(token.encode()).hexdigest(), "tests", now)
    return {"Authorization": f"Bearer {token}"}


def test_gunicorn_workers_serve_from_postgis_and_redis(pg_prepared, redis_server):
    auth = _operator_token(pg_prepared)
    env = {
        "DATABASE_URL": pg_prepared,
        "REDIS_URL": redis_server.url,
        "DATA_DIR": str(SESSION_DIR / "gunicorn"),
        "SIMULATE_LIVE": "0",
        "SIMULATE_BACKFILL": "0",
        "PUBLIC_RATE_LIMIT": "12/hour",
    }
    # (--no-control-socket: other gunicorns on this machine may use the default socket path)
    args = (
        "-m",
        "gunicorn",
        "-w",
        "2",
        "-b",
        "127.0.0.1:{port}",
        "--no-control-socket",
        "--timeout",
        "120",
        "app:server",
    )
    log = SESSION_DIR / "gunicorn.log"
    cache = redis.Redis.from_url(redis_server.url)
    cache.flushdb()
    with running_app(env, log, 120, args) as base:
        status, body = _get(base + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["database"]["backend"] == "postgresql" and health["database"]["reachable"]
        assert _get(base + "/geo/hangzhou/roads.json")[0] == 401  # operator data: sign-in first
        status, body = _get(base + "/geo/hangzhou/roads.json", headers=auth)
        roads = json.loads(body)["features"]
        expected = store.sensors(store.get_engine(pg_prepared), "traffic", "hangzhou")
        assert status == 200 and len(roads) == len(expected)
        assert roads[0]["geometry"]["coordinates"] == json.loads(expected["coords"].iloc[0])
        status, body = _get(
            base + "/_dash-update-component",
            data=json.dumps(refresh_map_body("hangzhou")).encode(),
            headers={"Content-Type": "application/json"} | auth,
            method="POST",
        )
        live = json.loads(body)["response"]["cc-live"]["data"]
        assert status == 200 and len(live["traffic"]["ci"]) == len(roads)
        assert [k for k in cache.keys("citybrain:*") if b"ratelimit" not in k]  # the workers cache in Redis
        if 3600 - time.time() % 3600 < 10:  # a fixed window: do not straddle its end
            time.sleep(11)
        statuses = [_get(base + "/api/ogc/conformance")[0] for _ in range(16)]
        assert statuses.count(200) == 12 and statuses.count(429) == 4  # one budget for both workers
    booted = log.read_text().count("Booting worker with pid")
    assert booted == 2


def test_schema_creation_is_one_process_at_a_time(pg_server):
    """Two workers starting together create the schema one after the other (it raced on the catalog)."""
    url = pg_server.create_database("citybrain_schema_race")
    code = "import sys; from data import store; store.create_schema(store.get_engine(sys.argv[1])); print('ok')"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode()[-800:] for _, err in outcomes]
