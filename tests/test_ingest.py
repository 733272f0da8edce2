"""Feeds in: auth and limits, row validation with quarantine, idempotency, transactions, NGSI-v2."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cli import ingest as cli_ingest
from data import access, store
from data.feeds import ingest
from data.feeds.ingest import utc_iso

KEY = {"X-API-Key": "test-key-1"}


@pytest.fixture(scope="module")
def sensors(dash_app):
    engine = store.get_engine()
    segs = store.sensors(engine, "traffic", "shenzhen")
    lots = store.sensors(engine, "parking", "shenzhen")
    stations = store.sensors(engine, "air_quality", "shenzhen")
    return {
        "segment": int(segs["id"].iloc[5]),
        "segment_sid": str(segs["source_id"].iloc[5]),
        "lot_sid": str(lots["source_id"].iloc[3]),
        "station_sid": str(stations["source_id"].iloc[0]),
        "segment_ff": float(segs["free_flow_kmh"].iloc[5]),
        "lot": int(lots["id"].iloc[3]),
        "capacity": int(lots["capacity"].iloc[3]),
        "station": str(stations["code"].iloc[0]),
    }


def _count(table, **where) -> int:
    q = select(func.count()).select_from(table)
    for column, value in where.items():
        q = q.where(table.c[column] == value)
    with store.get_engine().connect() as conn:
        return conn.execute(q).scalar()


def _fresh_time(offset_s: int = 0) -> int:
    """A time in a bucket the simulator does not write (tests run with the live simulator off)."""
    return int(time.time()) - 3 * 86400 + offset_s


# --- auth and limits ----------------------------------------------------------------------------


def test_ingest_needs_a_valid_api_key(client):
    assert client.post("/api/v1/ingest/traffic", json=[]).status_code == 401
    assert client.post("/api/v1/ingest/traffic", json=[], headers={"X-API-Key": "nope"}).status_code == 403
    assert client.post("/api/v1/ngsi/notify", json={"data": []}).status_code == 401
    assert client.post("/api/v1/ingest/traffic", json=[], headers={"X-API-Key": "test-key-2"}).status_code == 200


def test_oversized_and_malformed_bodies_are_refused_with_where(client):
    big = b"[" + b" " * 300_000 + b"]"
    response = client.post("/api/v1/ingest/traffic", data=big, headers=KEY, content_type="application/json")
    assert response.status_code == 413
    response = client.post(
        "/api/v1/ingest/traffic", data=b'[{"a": 1},\n {"b": }]', headers=KEY, content_type="application/json"
    )
    assert response.status_code == 400 and "line 2" in response.get_json()["message"]
    assert response.get_json()["error"] == "bad_request"  # the one error shape: {"error": code, "message": text}
    response = client.post(
        "/api/v1/ingest/parking", data=b"lot_id,occupied,observed_at\n1,2\n", headers=KEY, content_type="text/csv"
    )
    assert response.status_code == 400 and "line 2" in response.get_json()["message"]
    assert response.get_json()["error"] == "bad_request"  # the one error shape: {"error": code, "message": text}
    unknown = client.post("/api/v1/ingest/weather", json=[], headers=KEY)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_layer"
    # Flask's own errors on API routes come in the same shape, not as HTML pages.
    no_city = client.get("/geo/atlantis/traffic.json")
    assert no_city.status_code == 404 and no_city.get_json()["error"] == "not_found"
    response = client.post("/api/v1/ngsi/notify", json={"subscriptionId": "x"}, headers=KEY)
    assert response.status_code == 400


# --- validation and quarantine ------------------------------------------------------------------


def test_a_mixed_batch_keeps_valid_rows_and_quarantines_the_rest(client, sensors):
    t = _fresh_time()
    rows = [
        {"segment_id": sensors["segment_sid"], "speed_kmh": 41.5, "observed_at": utc_iso(t)},
        {"segment_id": sensors["segment_sid"], "speed_kmh": -3, "observed_at": utc_iso(t)},
        {"segment_id": 99999999, "speed_kmh": 30, "observed_at": utc_iso(t)},
        {"segment_id": sensors["segment_sid"], "speed_kmh": 30, "observed_at": utc_iso(time.time() + 3600)},
        {"segment_id": sensors["segment_sid"], "speed_kmh": "fast", "observed_at": utc_iso(t)},
        {"segment_id": sensors["segment_sid"], "speed_kmh": 30, "observed_at": "2026-01-01T08:00:00"},
    ]
    before = _count(store.ingest_rejection)
    response = client.post("/api/v1/ingest/traffic", json=rows, headers=KEY)
    body = response.get_json()
    assert response.status_code == 200
    assert body["accepted"] == 1 and body["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "outside" in reasons[1] and "unknown road segment" in reasons[2] and "future" in reasons[3]
    assert "number" in reasons[4] and "time zone" in reasons[5]
    assert _count(store.ingest_rejection) == before + 5
    quarantined = store.latest_rejections(store.get_engine(), 5)
    assert any('"fast"' in raw for raw in quarantined["raw"])
    stored = store.observations(store.get_engine(), "traffic", "shenzhen", store.bucket_of(t))
    assert stored.set_index("segment_id").loc[sensors["segment"], "speed_kmh"] == 41.5


def test_parking_occupancy_above_capacity_is_rejected(client, sensors):
    t = _fresh_time(60)
    csv_body = (
        f"lot_id,occupied,observed_at\n{sensors['lot_sid']},{sensors['capacity'] + 1},{t}\n"
        f"{sensors['lot_sid']},{sensors['capacity'] - 1},{t}\n"
    )
    body = client.post("/api/v1/ingest/parking", data=csv_body, headers=KEY, content_type="text/csv").get_json()
    assert body["accepted"] == 1 and "capacity" in body["rejected"][0]["reason"]


def test_the_same_observation_twice_is_stored_once(client, sensors):
    t = _fresh_time(120)
    row = {"station": sensors["station_sid"], "pm25": 55.0, "pm10": 80.0, "observed_at": t}
    first = client.post("/api/v1/ingest/air-quality", json=[row], headers=KEY).get_json()
    second = client.post("/api/v1/ingest/air-quality", json=[row, row], headers=KEY).get_json()
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 2)


def test_a_batch_is_all_or_nothing(sensors, monkeypatch):
    t = _fresh_time(180)
    rows = [{"segment_id": sensors["segment_sid"], "speed_kmh": 22.0, "observed_at": t}]
    batches = _count(store.ingest_batch)

    def exploding(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "bump_feed", exploding)  # fails after the rows were written
    with pytest.raises(RuntimeError):
        ingest.ingest_rows("traffic", rows, "json")
    monkeypatch.undo()
    stored = store.observations(store.get_engine(), "traffic", "shenzhen", store.bucket_of(t))
    assert t not in set(stored["observed_at"])
    assert _count(store.ingest_batch) == batches


def test_ingest_reaches_the_cached_live_values(dash_app, sensors):
    t = int(time.time()) - 5 * 86400
    with dash_app.server.app_context():
        before = access.live_values("shenzhen", t)["traffic"]
        ingest.ingest_rows(
            "traffic", [{"segment_id": sensors["segment_sid"], "speed_kmh": 5.0, "observed_at": t}], "json"
        )
        after = access.live_values("shenzhen", t)["traffic"]
    segs = store.sensors(store.get_engine(), "traffic", "shenzhen")
    i = int((segs["id"] == sensors["segment"]).to_numpy().nonzero()[0][0])
    assert after["ci"][i] == pytest.approx(sensors["segment_ff"] / 5.0, rel=0.01)
    assert after != before


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(sensors):
    engine = store.get_engine()
    frame = store.sensors(engine, "traffic", "shenzhen").iloc[:200]
    segs = frame["id"].tolist()
    t = _fresh_time(-7200)  # a bucket no other test writes
    rows = [{"segment_id": s, "speed_kmh": 30.0 + k % 7, "observed_at": t} for k, s in enumerate(frame["source_id"])]
    results, errors = [], []

    def writer(chunk):
        try:
            results.append(ingest.ingest_rows("traffic", chunk, "json"))
        except Exception as exc:
            errors.append(exc)

    # Four writers with overlapping halves: every row is sent twice in all.
    chunks = [rows[:100], rows[50:150], rows[100:], rows[:50] + rows[150:]]
    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.accepted for r in results) == len(rows)
    assert sum(r.duplicates for r in results) == len(rows)
    stored = store.observations(engine, "traffic", "shenzhen", store.bucket_of(t))
    assert set(stored.loc[stored["observed_at"] == t, "segment_id"]) == set(segs)


# --- NGSI-v2 ------------------------------------------------------------------------------------


def _normalized(entity: dict) -> dict:
    out = {"id": entity["id"], "type": entity["type"]}
    for key, value in entity.items():
        if key in ("id", "type"):
            continue
        kind = (
            "DateTime"
            if key.startswith("date")
            else "geo:json"
            if key == "location"
            else "Relationship"
            if key.startswith("ref")
            else "Number"
            if isinstance(value, (int, float))
            else "Text"
        )
        out[key] = {"type": kind, "value": value, "metadata": {}}
    return out


@pytest.mark.parametrize("form", ["keyValues", "normalized"])
def test_orion_notification_of_every_supported_type(client, sensors, form):
    t = _fresh_time(240 if form == "keyValues" else 300)
    entities = [
        {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:{form}",
            "type": "TrafficFlowObserved",
            "refRoadSegment": sensors["segment_sid"],
            "averageVehicleSpeed": 33.3,
            "dateObserved": f"{utc_iso(t - 300)}/{utc_iso(t)}",
        },
        {
            "id": sensors["lot_sid"],
            "type": "OffStreetParking",
            "totalSpotNumber": sensors["capacity"],
            "availableSpotNumber": 10,
            "dateObserved": utc_iso(t),
        },
        {
            "id": sensors["station_sid"],
            "type": "AirQualityObserved",
            "pm25": 80.0,
            "pm10": 120.0,
            "no2": 40.0,
            "co": 0.9,
            "dateObserved": utc_iso(t),
        },
        {
            "id": f"urn:ngsi-ld:Alert:{form}-{t}",
            "type": "Alert",
            "category": "traffic",
            "subCategory": "carAccident",
            "severity": "high",
            "dateIssued": utc_iso(t),
            "location": {"type": "Point", "coordinates": [114.06, 22.54]},
        },
        {"id": "urn:ngsi-ld:WeatherObserved:1", "type": "WeatherObserved", "temperature": 20},
    ]
    if form == "normalized":
        entities = [_normalized(e) for e in entities]
    response = client.post("/api/v1/ngsi/notify", json={"subscriptionId": "sub-1", "data": entities}, headers=KEY)
    body = response.get_json()
    assert response.status_code == 200
    assert body["accepted"] == 4, body
    assert [r["index"] for r in body["rejected"]] == [4]
    assert "unsupported entity type" in body["rejected"][0]["reason"]
    parking = store.observations(store.get_engine(), "parking", "shenzhen", store.bucket_of(t))
    assert parking.set_index("lot_id").loc[sensors["lot"], "occupied"] == sensors["capacity"] - 10
    assert _count(store.incident, ref=f"urn:ngsi-ld:Alert:{form}-{t}") == 1


def test_normalized_units_are_honoured(client, sensors):
    t = _fresh_time(360)
    entity = {
        "id": sensors["station_sid"],
        "type": "AirQualityObserved",
        "dateObserved": {"type": "DateTime", "value": utc_iso(t)},
        "co": {"type": "Number", "value": 1200, "metadata": {"unitCode": {"type": "Text", "value": "GQ"}}},
        "no2": {"type": "Number", "value": 0.05, "metadata": {"unitCode": {"type": "Text", "value": "GP"}}},
    }
    bad = json.loads(json.dumps(entity))
    bad["no2"]["metadata"]["unitCode"]["value"] = "59"
    body = client.post("/api/v1/ngsi/notify", json={"data": [entity, bad]}, headers=KEY).get_json()
    assert body["accepted"] == 1 and "unitCode" in body["rejected"][0]["reason"]
    stored = store.observations(store.get_engine(), "air_quality", "shenzhen", t // 3600 * 3600)
    row = stored[stored["observed_at"] == t].iloc[0]
    assert row["co"] == pytest.approx(1.2) and row["no2"] == pytest.approx(50.0)


def test_alert_outside_the_cities_is_rejected(client):
    entity = {
        "id": "Alert:far",
        "type": "Alert",
        "subCategory": "trafficJam",
        "severity": "low",
        "dateIssued": utc_iso(time.time() - 60),
        "location": {"type": "Point", "coordinates": [2.35, 48.85]},
    }
    body = client.post("/api/v1/ngsi/notify", json={"data": [entity]}, headers=KEY).get_json()
    assert body["accepted"] == 0 and "outside the six cities" in body["rejected"][0]["reason"]


# --- property: never a 500, nothing of a rejected row stored ---------------------------------------

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "segment_id": st.one_of(st.integers(-5, 10**9), st.text(max_size=8), st.none()),
            "speed_kmh": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.booleans()),
            "observed_at": st.one_of(st.integers(-(10**12), 10**12), st.text(max_size=30), st.floats()),
        },
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_property_ingest_never_fails_and_stores_nothing_rejected(client, rows):
    before = _count(store.traffic_obs)
    response = client.post(
        "/api/v1/ingest/traffic", data=json.dumps(rows, allow_nan=True), headers=KEY, content_type="application/json"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] + body["duplicates"] + len(body["rejected"]) == len(rows)
    assert _count(store.traffic_obs) - before <= body["accepted"]


def test_cli_backfill_reports_per_row(tmp_path, sensors, capsys):
    t = _fresh_time(420)
    path = tmp_path / "parking.csv"
    path.write_text(f"lot_id,occupied,observed_at\n{sensors['lot_sid']},5,{utc_iso(t)}\n{sensors['lot_sid']},x,{t}\n")
    assert cli_ingest.main([str(path), "--layer", "parking"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["accepted"] == 1 and out["rejected"][0]["index"] == 1
    assert cli_ingest.main([str(tmp_path / "missing.csv"), "--layer", "parking"]) == 2


def test_data_quality_page_shows_feeds_rejections_and_stale_sensors(dash_app, client, sensors):
    from pages import data_quality
    from tests.test_callbacks import _texts

    bad = [{"segment_id": sensors["segment_sid"], "speed_kmh": 999, "observed_at": _fresh_time(480)}]
    client.post("/api/v1/ingest/traffic", json=bad, headers=KEY)
    with dash_app.server.test_request_context():
        feeds, rejections, stale = data_quality.refresh(1, "shenzhen")
    assert "Accepted" in _texts(feeds) and "Rejected" in _texts(feeds)
    assert "speed_kmh 999 outside" in _texts(rejections)
    assert "Traffic" in _texts(stale)
    assert "Data quality" in _texts(data_quality.layout(city="shenzhen"))


def test_replay_streams_notifications_at_the_asked_rate(served_app, capsys):
    from cli import replay as cli_replay

    started = time.perf_counter()
    code = cli_replay.main(
        ["--rate", "40", "--count", "20", "--url", served_app, "--key", "test-key-1", "--city", "xiongan"]
    )
    elapsed = time.perf_counter() - started
    assert code == 0
    assert "sent 20 notifications" in capsys.readouterr().out
    assert elapsed >= 19 / 40
    assert cli_replay.main(["--rate", "5", "--count", "1", "--url", served_app, "--key", "wrong"]) == 2
