"""Scale-out pieces (issue 8): geobuf geometry by URL, delta live refreshes, and the Shanghai scale."""

from __future__ import annotations

import gzip
import json
import time

import geobuf
import numpy as np
import pytest

from data import access, store
from data.geo.cities import CITIES, SCALES, scaled_city
from data.rules.clock import floor_bucket
from data.sim import simulate
from tests.conftest import refresh_map_body


@pytest.mark.parametrize("layer", ["roads", "parking", "air_quality"])
def test_geobuf_route_round_trips_to_the_geojson(client, layer):
    response = client.get(f"/geo/hangzhou/{layer}.pbf?v=1", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert response.mimetype == "application/x-protobuf" and "max-age=86400" in response.headers["Cache-Control"]
    decoded = geobuf.decode(gzip.decompress(response.data))
    expected = json.loads(client.get(f"/geo/hangzhou/{layer}.json").get_data())
    assert len(decoded["features"]) == len(expected["features"]) > 0
    for got, want in zip(decoded["features"], expected["features"], strict=True):
        assert got["id"] == want["id"] and got["properties"] == want["properties"]
        assert got["geometry"]["type"] == want["geometry"]["type"]
        assert np.allclose(got["geometry"]["coordinates"], want["geometry"]["coordinates"], atol=1e-6)
    again = client.get(f"/geo/hangzhou/{layer}.pbf?v=1", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(f"/geo/hangzhou/{layer}.pbf")
    assert "Content-Encoding" not in plain.headers and geobuf.decode(plain.data) == decoded


def test_geobuf_route_refuses_unknown_cities_and_layers(client):
    assert client.get("/geo/atlantis/roads.pbf").status_code == 404
    assert client.get("/geo/hangzhou/secrets.pbf").status_code == 404


def test_page_asks_for_geobuf_layers(client, dash_app):
    from pages import command_centre

    with dash_app.server.test_request_context():
        import plotly

        text = json.dumps(command_centre.layout(city="hangzhou"), cls=plotly.utils.PlotlyJSONEncoder)
    assert '"format": "geobuf"' in text and "/geo/hangzhou/roads.pbf?v=" in text


def _random_change(values: dict, rng: np.random.Generator) -> dict:
    new = json.loads(json.dumps(values))
    for field in ("ci", "speed"):
        for i in rng.choice(len(new[field]), size=50, replace=False):
            new[field][int(i)] = None if rng.random() < 0.1 else round(float(rng.uniform(1, 4)), 2)
    new["stale"] = sorted(set(new["stale"][5:]) | {int(i) for i in rng.choice(new["n"], 7)})
    return new


def test_applying_an_array_delta_to_the_old_arrays_gives_the_new(dash_app):
    old = access.live_values("hangzhou", int(time.time()))["traffic"]
    old = {k: v for k, v in old.items() if k != "kpi"}
    rng = np.random.default_rng(1)
    for _ in range(5):
        new = _random_change(old, rng)
        delta = access.array_delta(old, new, access.LIVE_ARRAYS["traffic"])
        assert access.apply_array_delta(old, delta) == new
        assert len(json.dumps(delta)) < len(json.dumps(new)) / 10
        old = new
    assert access.array_delta(old, dict(old), access.LIVE_ARRAYS["traffic"])["changes"] == {}  # same lists
    changed = dict(old, ci=[None if v is not None else 1.0 for v in old["ci"]])  # None <-> number counts
    assert len(access.array_delta(old, changed, ("ci",))["changes"]["ci"][0]) == old["n"]


def _by_id(inc: dict) -> dict:
    return {
        i: (
            inc["age"][k],
            inc["kinds"][inc["kind"][k]],
            inc["sev"][k],
            inc["statuses"][inc["status"][k]],
            inc["lon"][k],
            inc["lat"][k],
            inc["districts"][inc["district"][k]],
            inc["sim"][k],
            inc["ops"][k],
            inc["breach"][k],
            inc["due_at"][k],
        )
        for k, i in enumerate(inc["id"])
    }


def test_applying_an_incident_delta_gives_the_new_open_incidents(dash_app):
    now = int(time.time())
    for before, after in ((now - 1800, now), (now - 600, now - 300), (now - 86400, now)):
        old, new = access.incidents("hangzhou", before), access.incidents("hangzhou", after)
        delta = access.incident_delta(old, new)
        assert access.apply_incident_delta(old, delta) == _by_id(new)


def test_live_refresh_sends_only_what_changed_since_the_browsers_version(client, dash_app):
    body = refresh_map_body("hangzhou")
    first = client.post("/_dash-update-component", json=body).get_json()["response"]["cc-live"]["data"]
    have = {layer: first[layer]["v"] for layer in ("traffic", "parking", "air_quality", "incidents")}
    assert "base" not in first["traffic"] and len(first["traffic"]["ci"]) >= 2000  # nothing held: in full
    body["cb_have"] = have  # what assets/citybrain.js adds to the request
    again = client.post("/_dash-update-component", json=body).get_json()["response"]["cc-live"]["data"]
    for layer in ("traffic", "parking", "air_quality"):
        assert again[layer]["base"] == have[layer]
        rebuilt = access.apply_array_delta(first[layer], again[layer])
        assert {k: rebuilt[k] for k in access.LIVE_ARRAYS[layer]} == {
            k: first[layer][k] if again[layer]["v"] == have[layer] else rebuilt[k] for k in access.LIVE_ARRAYS[layer]
        }
    assert again["incidents"]["base"] == have["incidents"]
    assert len(json.dumps(again)) < len(json.dumps(first)) / 10
    # An unknown (evicted) version gets the layer in full again.
    body["cb_have"] = {"traffic": "hangzhou:traffic:gone"}
    full = client.post("/_dash-update-component", json=body).get_json()["response"]["cc-live"]["data"]
    assert "base" not in full["traffic"] and len(full["traffic"]["ci"]) == len(first["traffic"]["ci"])


def test_delta_between_two_times_rebuilds_the_later_values(dash_app):
    at0 = access.resolve_at("history", access.history_window().steps - 8)
    at1 = at0 + 900
    full0 = access.live_values_since("hangzhou", at0)
    have = {layer: full0[layer]["v"] for layer in ("traffic", "parking", "air_quality", "incidents")}
    delta = access.live_values_since("hangzhou", at1, have)
    full1 = access.live_values_since("hangzhou", at1)
    for layer in ("traffic", "parking", "air_quality"):
        fields = access.LIVE_ARRAYS[layer]
        # A layer whose delta would name most of its entries (three buckets later) comes in full.
        most = (
            access._delta_size(access.array_delta(full0[layer], full1[layer], fields))
            > full1[layer]["n"] * len(fields) // 2
        )
        if most:
            assert "base" not in delta[layer]
            rebuilt = delta[layer]
        else:
            assert delta[layer]["base"] == have[layer]
            rebuilt = access.apply_array_delta(full0[layer], delta[layer])
        for field in (*fields, "stale", "n"):
            assert rebuilt[field] == full1[layer][field]
    assert access.apply_incident_delta(full0["incidents"], delta["incidents"]) == _by_id(full1["incidents"])


def test_shanghai_scale_scaled_down_keeps_counts_and_proportions(tmp_path, monkeypatch):
    fraction = 0.02
    city = scaled_city("shanghai", fraction)
    spec = SCALES["shanghai"]
    assert (city.segments, city.parking_lots, city.total_spaces) == (2000, 400, 20_000)
    assert CITIES["shanghai"].scale == "default"  # SIM_SCALE is not set in the tests
    monkeypatch.setitem(CITIES, "shanghai", city)
    engine = store.get_engine(f"sqlite:///{tmp_path / 'scale.sqlite'}")
    store.create_schema(engine)
    now = float(time.time())
    started = time.perf_counter()
    simulate.ensure_sensors(engine, city, lambda _m: None)
    simulate.advance_city(engine, city, now)
    simulate.scale_history(engine, city, now)
    elapsed = time.perf_counter() - started
    segs, lots = store.sensors(engine, "traffic", "shanghai"), store.sensors(engine, "parking", "shanghai")
    stations = store.sensors(engine, "air_quality", "shanghai")
    assert len(segs) == 2000 and len(lots) == 400 and int(lots["capacity"].sum()) == 20_000
    assert len(stations) == max(city.aq_stations, 10)  # the real national stations are always kept
    with engine.connect() as conn:

        def count(sql: str) -> int:
            return conn.exec_driver_sql(sql).scalar()

        traffic_buckets = count("SELECT COUNT(DISTINCT bucket) FROM traffic_obs WHERE city='shanghai'")
        parking_buckets = count("SELECT COUNT(DISTINCT bucket) FROM parking_obs WHERE city='shanghai'")
        traffic_rows = count("SELECT COUNT(*) FROM traffic_obs WHERE city='shanghai'")
        incidents = count("SELECT COUNT(*) FROM incident WHERE city='shanghai'")
        oldest = count("SELECT MIN(reported_at) FROM incident WHERE city='shanghai'")
    hours = dict(spec["obs_hours"])
    assert traffic_buckets == hours["traffic"] * 4 + 1  # 3 hours of closed buckets + the live one
    assert traffic_rows == traffic_buckets * 2000
    assert parking_buckets == hours["parking"] * 4 + 1
    # 30,000 a day over 30 days, scaled: within 10 % (weekends have less traffic, so fewer events)
    expected = spec["events_per_day"] * fraction * spec["incident_days"]
    assert 0.75 * expected < incidents < 1.1 * expected
    assert now - oldest > (spec["incident_days"] - 0.1) * 86400
    assert elapsed < 60
    # The live tick trims the traffic window again.
    simulate.advance_city(engine, city, now + 1800)
    simulate.trim_city(engine, city, now + 1800)
    with engine.connect() as conn:
        oldest_bucket = conn.exec_driver_sql("SELECT MIN(bucket) FROM traffic_obs WHERE city='shanghai'").scalar()
    assert oldest_bucket >= simulate.floor_bucket(now + 1800 - hours["traffic"] * 3600)


def test_prepare_encodes_every_citys_geobuf_before_any_page_asks(prepared):
    from data.geo.cities import CITIES

    folder = prepared / "geobuf"
    wanted = {f"{key}-{layer}-{access.static_version(key)}.pbf" for key in CITIES for layer in ("roads", "parking",
              "air_quality")}  # fmt: skip
    assert wanted <= {p.name for p in folder.iterdir()}
    one = folder / f"hangzhou-air_quality-{access.static_version('hangzhou')}.pbf"
    kept = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p != one}
    before = one.read_bytes()
    one.unlink()
    access.build_geobuf_files(progress=lambda _m: None)
    assert one.read_bytes() == before  # the missing one encoded again, the same bytes
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p != one} == kept  # the others untouched


def test_a_worker_without_the_browsers_snapshot_rebuilds_it_and_sends_a_delta(dash_app):
    """gunicorn workers keep their own snapshots (no REDIS_URL): a refresh on the other worker than the
    one that answered before still gets a delta when only the refresh interval moved (issue 17)."""
    refresh = access.load_settings().refresh_seconds
    at0 = floor_bucket(access.resolve_at("history", access.history_window().steps - 8)) + refresh
    at1 = at0 + refresh  # the next refresh interval, same bucket and feed revisions
    full0 = access.live_values_since("hangzhou", at0)
    have = {layer: full0[layer]["v"] for layer in ("traffic", "parking", "air_quality", "incidents")}
    for token in have.values():
        access.cache.delete(f"snap:{token}")  # answered by the other worker
    delta = access.live_values_since("hangzhou", at1, have)
    full1 = access.live_values_since("hangzhou", at1)
    for layer in ("traffic", "parking", "air_quality"):
        assert delta[layer]["base"] == have[layer]
        rebuilt = access.apply_array_delta(full0[layer], delta[layer])
        for field in (*access.LIVE_ARRAYS[layer], "stale", "n"):
            assert rebuilt[field] == full1[layer][field]
    assert delta["incidents"]["base"] == have["incidents"]
    assert access.apply_incident_delta(full0["incidents"], delta["incidents"]) == _by_id(full1["incidents"])
    # Not for versions no browser can hold (older than a snapshot lives, or made up): those get it in full.
    old = have["traffic"].split(":")
    for made_up in (
        ":".join([*old[:4], str(at1 - access.SNAPSHOT_TIMEOUT - refresh), *old[5:]]),
        ":".join([*old[:4], str(at0 + 1), *old[5:]]),
        ":".join([*old[:4], "x", *old[5:]]),
        ":".join([*old[:4], "²", *old[5:]]),  # a digit to str.isdigit, not to int()
        ":".join([*old[:4], "9" * 5000, *old[5:]]),  # past int()'s digit limit
        "x" * 100_000,
        ":".join([*old[:5], "999999", *old[6:]]),
        "hangzhou:traffic",
    ):
        got = access.live_values_since("hangzhou", at1, {"traffic": made_up})["traffic"]
        assert "base" not in got and got["ci"] == full1["traffic"]["ci"]


def test_after_a_feed_revision_the_other_worker_rebuilds_the_browsers_values_from_its_cache(dash_app):
    """A tick changes a layer's feed revision; the worker that did not answer the browser's last refresh
    rebuilds what the browser holds from the earlier revision's values it still has cached and sends a
    delta (it sent the layer in full: 1.3 MB at SIM_SCALE=shanghai). Values of an earlier revision that
    are no longer cached are never computed again (that would read the new data under the old name)."""
    from data import store

    engine, city = store.get_engine(), "hangzhou"
    refresh = access.load_settings().refresh_seconds
    at0 = floor_bucket(access.resolve_at("history", access.history_window().steps - 8)) + refresh
    at1, bucket = at0 + refresh, floor_bucket(at0)
    full0 = access.live_values_since(city, at0)
    have = {layer: full0[layer]["v"] for layer in ("traffic", "parking", "air_quality", "incidents")}
    rows = store.observations(engine, "traffic", city, bucket)
    original = rows.head(3)[["city", "bucket", "segment_id", "speed_kmh", "observed_at"]].to_dict("records")
    revision = access._revisions(city)["traffic"]
    try:
        store.write_observations(engine, city, "traffic", [r | {"speed_kmh": r["speed_kmh"] / 3} for r in original])
        for token in have.values():
            access.cache.delete(f"snap:{token}")  # answered by the other worker
        delta = access.live_values_since(city, at1, have)
        full1 = access.live_values_since(city, at1)
        assert access._revisions(city)["traffic"] == revision + 1
        assert delta["traffic"]["base"] == have["traffic"] and delta["traffic"]["changes"]["ci"][0]
        rebuilt = access.apply_array_delta(full0["traffic"], delta["traffic"])
        for field in (*access.LIVE_ARRAYS["traffic"], "stale", "n"):
            assert rebuilt[field] == full1["traffic"][field]
        # the earlier revision's values gone from this worker's cache: the layer in full
        access.cache.delete(f"snap:{have['traffic']}")
        access.cache.delete_memoized(access._traffic_base, city, bucket, revision)
        got = access.live_values_since(city, at1 + refresh, {"traffic": have["traffic"]})["traffic"]
        assert "base" not in got and got["ci"] == full1["traffic"]["ci"]
    finally:
        store.write_observations(engine, city, "traffic", original)
