"""Bring your own city (issue 18): feeds register their own sensors, matched only by their whole id.

The Smart Data Models examples (tests/fixtures/sdm/, see SOURCE.md) lie in Spain and Portugal: sent as
they are they are rejected as outside the six cities; moved into Shenzhen they register new sensors.
Every test runs on a store of its own (SQLite, and PostGIS) holding Shenzhen's simulated inventory.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data import access, store
from data.feeds import ingest
from data.feeds.ingest import utc_iso
from data.geo.cities import get_city
from data.sim import simulate
from data.store import operations
from tests.written import written_elements

SDM = Path(__file__).resolve().parent / "fixtures" / "sdm"
SHENZHEN = get_city("shenzhen")
LAT0, LON0 = SHENZHEN.center
pytestmark = pytest.mark.filterwarnings("ignore:Did not recognize type .geometry.")


@pytest.fixture(params=["sqlite", "postgresql"])
def city_store(request, tmp_path, monkeypatch):
    """A store of this test alone with Shenzhen's simulated sensors; ingest and the access layer use it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'byoc.sqlite'}"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"byoc_{time.time_ns()}")
    monkeypatch.setenv("DATABASE_URL", url)
    engine = store.get_engine(url)
    store.create_schema(engine)
    simulate.ensure_sensors(engine, SHENZHEN, lambda _m: None)
    forget_cached_reads(request)
    yield engine
    forget_cached_reads(request)
    engine.dispose()


def forget_cached_reads(request) -> None:
    """Cached reads are keyed on (city, bucket, feed revision): a fresh store's small revisions would
    meet entries an earlier test cached from the session's store (a KPI of other car parks, say)."""
    from public import data as public_data

    public_data.clear_caches()
    if "dash_app" in request.fixturenames:
        server = request.getfixturevalue("dash_app").server
        for app in (server, server.extensions["citybrain_embed_app"].server):  # the embed app's cache is its own
            with app.app_context():
                access.cache.clear()


def _sdm(name: str, form: str) -> dict:
    return json.loads((SDM / f"{name}.{'example' if form == 'keyValues' else 'example-normalized'}.json").read_text())


def _set(entity: dict, attr: str, value, kind: str = "Text") -> None:
    """Set an attribute in the entity's own form (normalized entities wrap values in {type, value})."""
    normalized = any(isinstance(v, dict) and "value" in v for k, v in entity.items() if k not in ("id", "type"))
    entity[attr] = {"type": kind, "value": value} if normalized else value


def _moved(geometry: dict, dx: float = 0.0, dy: float = 0.0) -> dict:
    """The example's geometry shifted so that its first position lands at Shenzhen's centre (+ dx, dy)."""
    coords = geometry["coordinates"]
    first = coords if geometry["type"] == "Point" else coords[0]
    ox, oy = LON0 + dx - first[0], LAT0 + dy - first[1]
    if geometry["type"] == "Point":
        return {"type": "Point", "coordinates": [coords[0] + ox, coords[1] + oy]}
    return {"type": geometry["type"], "coordinates": [[x + ox, y + oy] for x, y in coords]}


def _location(entity: dict) -> dict:
    value = entity["location"]
    return value.get("value", value)


def _examples(form: str, t: int, move: bool) -> list[dict]:
    """The five examples with current times (and, with `move`, their places in Shenzhen)."""
    flow, air = _sdm("TrafficFlowObserved", form), _sdm("AirQualityObserved", form)
    lot, spot, alert = _sdm("OffStreetParking", form), _sdm("ParkingSpot", form), _sdm("Alert", form)
    _set(flow, "dateObserved", f"{utc_iso(t - 300)}/{utc_iso(t)}", "DateTime")
    _set(air, "dateObserved", utc_iso(t), "DateTime")
    _set(air, "co", 0.5, "Number")  # the example's 500 mg/m³ is beyond any real reading (rejected as such)
    _set(lot, "dateObserved", utc_iso(t), "DateTime")
    _set(spot, "dateObserved", utc_iso(t + 900), "DateTime")  # the next bucket
    _set(spot, "status", "occupied")
    _set(spot, "refParkingSite", lot["id"])  # the example's site is another example's id
    _set(alert, "dateIssued", utc_iso(t), "DateTime")
    alert["id"] = alert_id(form)
    if move:
        for k, entity in enumerate((flow, air, lot, spot, alert)):
            _set(entity, "location", _moved(_location(entity), 0.002 * k, 0.001 * k), "geo:json")
    return [flow, air, lot, spot, alert]


def alert_id(form: str) -> str:
    return f"Alert:1:{form}"


def _notify(dash_app, entities: list[dict]) -> dict:
    """POST an Orion notification to the ingest endpoint (an API key, no session: a machine's call)."""
    response = dash_app.server.test_client().post(
        "/api/v1/ngsi/notify", json={"subscriptionId": "byoc", "data": entities}, headers={"X-API-Key": "test-key-1"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()


def _sensor(engine, layer: str, source_id: str) -> dict | None:
    table = store.SENSOR_TABLES[layer]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.source_id == source_id)).mappings().first()
    return dict(row) if row is not None else None


def _count_sensors(engine, layer: str, source_id: str) -> int:
    table = store.SENSOR_TABLES[layer]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(table.c.source_id == source_id)).scalar()


@pytest.mark.parametrize("form", ["keyValues", "normalized"])
def test_smart_data_models_examples_register_sensors_once_moved_into_a_city(city_store, dash_app, form):
    t = store.bucket_of(int(time.time()) - 3600) + 10
    unmoved = _notify(dash_app, _examples(form, t, move=False))
    reasons = {r["index"]: r["reason"] for r in unmoved["rejected"]}
    assert unmoved["accepted"] == 0 and set(reasons) == {0, 1, 2, 3, 4}, unmoved
    for index in (0, 1, 2, 4):  # the four with a place: Valladolid, Madrid, Porto, Madrid
        assert "outside the six cities" in reasons[index], reasons
    assert "not a known car park" in reasons[3]  # its site was rejected with it
    geometry_before = access.static_version("shenzhen")

    moved = _examples(form, t, move=True)
    body = _notify(dash_app, moved)

    assert (body["accepted"], body["rejected"], body["new_sensors"]) == (5, [], 3), body
    flow = _sensor(city_store, "traffic", moved[0]["id"])
    air = _sensor(city_store, "air_quality", moved[1]["id"])
    lot = _sensor(city_store, "parking", moved[2]["id"])
    assert flow["source"] == air["source"] == lot["source"] == "feed"
    assert flow["city"] == "shenzhen" and flow["free_flow_kmh"] == 50.0  # no maximumAllowedSpeed: the default
    assert air["name_en"] == "Plaza de España, Madrid" and lot["name"] == "Parque de estacionamento Trindade"
    assert lot["capacity"] == 414 and min(flow["id"], air["id"], lot["id"]) >= store.FIRST_REGISTERED_ID
    parking = store.observations(city_store, "parking", "shenzhen", store.bucket_of(t))
    assert parking.set_index("lot_id").loc[lot["id"], "occupied"] == 282
    # The spot's state counts into its site: one spot occupied, in the next bucket.
    site = store.observations(city_store, "parking", "shenzhen", store.bucket_of(t + 900)).set_index("lot_id")
    assert (site.loc[lot["id"], "observed_at"], site.loc[lot["id"], "occupied"]) == (t + 900, 1)
    with city_store.connect() as conn:
        assert conn.execute(select(func.count()).where(store.incident.c.ref == alert_id(form))).scalar() == 1
    # On the map within one refresh: the geometry version moved and the new features are in it.
    assert access.static_version("shenzhen") != geometry_before
    with dash_app.server.app_context():
        features = json.loads(access.geometry_json("shenzhen", "parking"))["features"]
    assert lot["id"] in {f["id"] for f in features}

    again = _notify(dash_app, moved)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 5, []), again
    for layer, entity in zip(("traffic", "air_quality", "parking"), moved, strict=False):
        assert _count_sensors(city_store, layer, entity["id"]) == 1


def _known(engine, layer: str, k: int = 3) -> tuple[int, str]:
    row = store.sensors(engine, layer, "shenzhen").iloc[k]
    return int(row["id"]), str(row["source_id"])


def test_a_mixed_notification_keeps_the_good_rejects_the_bad_and_twice_is_all_duplicates(city_store, dash_app):
    t = int(time.time()) - 1800
    stamp = utc_iso(t)
    seg_id, seg_sid = _known(city_store, "traffic")
    lot_id, lot_sid = _known(city_store, "parking", 42)
    _station_id, station_sid = _known(city_store, "air_quality")
    here = {"type": "Point", "coordinates": [LON0 + 0.01, LAT0 + 0.01]}
    road = {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0 + 0.003, LAT0 + 0.001]]}
    paris = {"type": "Point", "coordinates": [2.35, 48.85]}
    good = [
        # new sensors of all four types
        {"id": "urn:ngsi-ld:TrafficFlowObserved:SZ-RD-7", "type": "TrafficFlowObserved", "location": road,
         "maximumAllowedSpeed": 70, "averageVehicleSpeed": 35, "dateObserved": stamp},
        # a new Shenzhen car park whose id ends in the digits of simulated car park 42: a car park of its own
        {"id": "urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042", "type": "OffStreetParking", "location": here,
         "totalSpotNumber": 120, "availableSpotNumber": 20, "dateObserved": stamp},
        {"id": "urn:ngsi-ld:AirQualityObserved:SZ-AQ-Futian", "type": "AirQualityObserved", "location": here,
         "name": "Futian", "pm25": 35.0, "dateObserved": stamp},
        {"id": "urn:ngsi-ld:Alert:SZ-1", "type": "Alert", "subCategory": "carAccident", "severity": "high",
         "location": here, "dateIssued": stamp},
        # known sensors, by their whole ids
        {"id": seg_sid, "type": "TrafficFlowObserved", "averageVehicleSpeed": 22, "dateObserved": stamp},
        {"id": lot_sid, "type": "OffStreetParking", "occupiedSpotNumber": 5, "dateObserved": stamp},
        {"id": station_sid, "type": "AirQualityObserved", "pm10": 60.0, "dateObserved": stamp},
        # a spot counted into the new car park registered above
        {"id": "urn:ngsi-ld:ParkingSpot:SZ-PK-NS-0042:1", "type": "ParkingSpot", "status": "occupied",
         "refParkingSite": "urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042", "dateObserved": stamp},
    ]  # fmt: skip
    bad = [
        ({"id": "urn:ngsi-ld:AirQualityObserved:nowhere", "type": "AirQualityObserved", "pm25": 5,
          "dateObserved": stamp}, "no location"),
        ({"id": "urn:ngsi-ld:TrafficFlowObserved:point", "type": "TrafficFlowObserved", "location": here,
          "averageVehicleSpeed": 30, "dateObserved": stamp}, "needs a LineString"),
        ({"id": "urn:ngsi-ld:OffStreetParking:paris", "type": "OffStreetParking", "location": paris,
          "totalSpotNumber": 10, "availableSpotNumber": 5, "dateObserved": stamp}, "outside the six cities"),
        ({"id": "urn:ngsi-ld:OffStreetParking:nocap", "type": "OffStreetParking", "location": here,
          "occupiedSpotNumber": 5, "dateObserved": stamp}, "no capacity"),
        ({"id": "urn:ngsi-ld:ParkingSpot:orphan", "type": "ParkingSpot", "status": "free",
          "refParkingSite": "urn:ngsi-ld:OffStreetParking:unknown", "dateObserved": stamp}, "not a known car park"),
        ({"id": "urn:ngsi-ld:Alert:far", "type": "Alert", "subCategory": "trafficJam", "location": paris,
          "dateIssued": stamp}, "outside the six cities"),
    ]  # fmt: skip
    entities = good + [entity for entity, _ in bad]

    first = _notify(dash_app, entities)

    assert (first["accepted"], first["duplicates"], first["new_sensors"]) == (len(good), 0, 3), first
    reasons = {r["index"]: r["reason"] for r in first["rejected"]}
    assert sorted(reasons) == list(range(len(good), len(entities)))
    for k, (_entity, expected) in enumerate(bad):
        assert expected in reasons[len(good) + k], reasons
    new_lot = _sensor(city_store, "parking", "urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042")
    assert new_lot is not None and new_lot["id"] != lot_id and new_lot["capacity"] == 120
    assert _sensor(city_store, "traffic", "urn:ngsi-ld:TrafficFlowObserved:SZ-RD-7")["free_flow_kmh"] == 70
    for source_id in ("urn:ngsi-ld:AirQualityObserved:nowhere", "urn:ngsi-ld:OffStreetParking:paris"):
        assert (
            _sensor(city_store, "air_quality", source_id) is None and _sensor(city_store, "parking", source_id) is None
        )
    bucket = store.observations(city_store, "parking", "shenzhen", store.bucket_of(t)).set_index("lot_id")
    assert bucket.loc[lot_id, "occupied"] == 5 and bucket.loc[new_lot["id"], "occupied"] == 100
    traffic = store.observations(city_store, "traffic", "shenzhen", store.bucket_of(t)).set_index("segment_id")
    assert traffic.loc[seg_id, "speed_kmh"] == 22

    second = _notify(dash_app, entities)

    assert (second["accepted"], second["duplicates"]) == (0, len(good)), second
    assert [r["index"] for r in second["rejected"]] == sorted(reasons)
    for layer, source_id in (
        ("traffic", "urn:ngsi-ld:TrafficFlowObserved:SZ-RD-7"),
        ("parking", "urn:ngsi-ld:OffStreetParking:SZ-PK-NS-0042"),
        ("air_quality", "urn:ngsi-ld:AirQualityObserved:SZ-AQ-Futian"),
    ):
        assert _count_sensors(city_store, layer, source_id) == 1


def test_concurrent_batches_naming_the_same_new_sensors_register_them_once(city_store):
    t = int(time.time()) - 2 * 3600
    ids = [f"urn:ngsi-ld:AirQualityObserved:race-{k}" for k in range(20)]

    def rows(offset: int) -> list[dict]:
        return [
            {"station": sid, "lon": LON0 + 0.001 * k, "lat": LAT0, "pm25": 10.0 + k, "observed_at": t + offset}
            for k, sid in enumerate(ids)
        ]

    results, errors = [], []

    def writer(offset: int) -> None:
        try:
            results.append(ingest.ingest_rows("air_quality", rows(offset), "json"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and all(not r.rejected for r in results)
    table = store.aq_station
    with city_store.connect() as conn:
        stored = conn.execute(select(table.c.source_id, func.count()).where(table.c.source_id.in_(ids)).group_by(
            table.c.source_id)).all()  # fmt: skip
    assert sorted(stored) == sorted((sid, 1) for sid in ids)


def test_a_batch_registers_at_most_ingest_max_new_sensors(city_store, monkeypatch):
    monkeypatch.setenv("INGEST_MAX_NEW_SENSORS", "2")
    t = int(time.time()) - 3 * 3600
    rows = [
        {"lot_id": f"cap-{k}", "lon": LON0, "lat": LAT0 + 0.001 * k, "capacity": 50, "occupied": 10, "observed_at": t}
        for k in range(4)
    ]
    result = ingest.ingest_rows("parking", [*rows, rows[0]], "csv")
    assert result.accepted == 2 and result.registered == 2
    assert [r["index"] for r in result.rejected] == [2, 3]
    assert all("INGEST_MAX_NEW_SENSORS (2)" in r["reason"] for r in result.rejected)
    assert result.duplicates == 1  # the first car park again: known within the batch, not new


def test_a_sensor_reported_more_than_50_m_away_moves_and_the_move_is_audited(city_store):
    t = int(time.time()) - 4 * 3600
    sid = "urn:ngsi-ld:AirQualityObserved:mover"
    row = {"station": sid, "lon": LON0, "lat": LAT0, "pm25": 20.0, "observed_at": t}
    assert ingest.ingest_rows("air_quality", [row], "json").registered == 1
    near = dict(row, lat=LAT0 + 0.0003, observed_at=t + 3600)  # ~33 m
    ingest.ingest_rows("air_quality", [near], "json")
    assert _sensor(city_store, "air_quality", sid)["lat"] == pytest.approx(LAT0)
    far = dict(row, lat=LAT0 + 0.001, observed_at=t + 7200)  # ~111 m
    version = access.static_version("shenzhen")
    ingest.ingest_rows("air_quality", [far], "json")
    station = _sensor(city_store, "air_quality", sid)
    assert station["lat"] == pytest.approx(LAT0 + 0.001) and access.static_version("shenzhen") != version
    entries = operations.audit_entries(city_store, None, None, entity="sensor")
    moves = [e for e in entries.to_dict("records") if e["action"] == "move"]
    assert len(moves) == 1 and json.loads(moves[0]["before"])["source_id"] == sid


def test_traffic_joins_a_stored_segment_named_by_ref_road_segment(city_store):
    seg_id, seg_sid = _known(city_store, "traffic", 9)
    t = int(time.time()) - 5 * 3600
    entity = {"id": "urn:ngsi-ld:TrafficFlowObserved:camera-9", "type": "TrafficFlowObserved",
              "refRoadSegment": seg_sid, "averageVehicleSpeed": 44.0, "dateObserved": utc_iso(t)}  # fmt: skip
    result = ingest.ingest_ngsi([entity, dict(entity, refRoadSegment=seg_sid + "0")])
    assert result.accepted == 1 and result.registered == 0
    assert "no location" in result.rejected[0]["reason"]
    stored = store.observations(city_store, "traffic", "shenzhen", store.bucket_of(t)).set_index("segment_id")
    assert stored.loc[seg_id, "speed_kmh"] == 44.0


def test_the_simulator_never_drives_a_feed_sensor(city_store):
    t = int(time.time()) - 6 * 3600
    row = {"lot_id": "urn:ngsi-ld:OffStreetParking:own", "lon": LON0, "lat": LAT0, "capacity": 80, "occupied": 8,
           "observed_at": t}  # fmt: skip
    assert ingest.ingest_rows("parking", [row], "json").registered == 1
    own = _sensor(city_store, "parking", row["lot_id"])
    assert own["id"] in set(store.sensors(city_store, "parking", "shenzhen")["id"])
    assert own["id"] not in set(store.driven_sensors(city_store, "parking", "shenzhen")["id"])
    simulate.advance_city(city_store, SHENZHEN, time.time(), None, 2 / 24)
    with city_store.connect() as conn:
        written = conn.execute(
            select(store.parking_obs.c.observed_at).where(store.parking_obs.c.lot_id == own["id"])
        ).scalars()
        assert list(written) == [t]


def test_sim_ids_are_whole_urns_the_replay_sends(city_store):
    from data.feeds import replay

    ids = {e["id"] for e in replay.entities("shenzhen", time.time())}
    lots = store.sensors(city_store, "parking", "shenzhen")
    assert set(lots["source_id"]) <= ids
    assert store.sim_source_id("parking", "shenzhen", lots["id"].iloc[41]) == (
        "urn:ngsi-ld:OffStreetParking:sim-shenzhen-0042"
    )
    fresh = list(replay.new_entities("shenzhen", time.time(), 2))
    result = ingest.ingest_ngsi(copy.deepcopy(fresh))
    assert (result.accepted, result.registered, result.rejected) == (6, 6, [])


# --- SIMULATE: which layers the simulator drives, per city ------------------------------------------


def test_simulate_setting_is_parsed_per_city_and_layer():
    from data.config import ALL_SIMULATED, CITY_KEYS, parse_simulate
    from data.geo.cities import CITIES

    assert set(CITY_KEYS) == set(CITIES)
    assert parse_simulate("") == parse_simulate("all") == ALL_SIMULATED and parse_simulate("none") == frozenset()
    pairs = parse_simulate("hangzhou:traffic, hangzhou:parking,shanghai")
    assert ("hangzhou", "traffic") in pairs and ("hangzhou", "air_quality") not in pairs
    assert {layer for city, layer in pairs if city == "shanghai"} == {"traffic", "parking", "air_quality", "incidents"}
    assert parse_simulate("beijing:air-quality") == {("beijing", "air_quality")}
    for bad in ("paris", "hangzhou:weather", "shanghai:parking:x"):
        with pytest.raises(ValueError, match="SIMULATE"):
            parse_simulate(bad)


def _simulate(monkeypatch, engine, value: str) -> None:
    """Set SIMULATE as a restart would (data/jobs/bootstrap.py records it, bumping the versions)."""
    from data.config import load_settings

    monkeypatch.setenv("SIMULATE", value)
    settings = load_settings()
    for key in ("shenzhen", "hangzhou"):
        store.note_simulation(engine, key, [layer for layer in store.LAYERS if settings.simulates(key, layer)])


def test_simulate_hangzhou_traffic_keeps_it_simulated_and_everything_else_feed_only(city_store, dash_app, monkeypatch):
    hangzhou = get_city("hangzhou")
    simulate.ensure_sensors(city_store, hangzhou, lambda _m: None)
    _simulate(monkeypatch, city_store, "hangzhou:traffic")
    now = time.time()
    t = int(now) - 600
    own = {"lot_id": "urn:ngsi-ld:OffStreetParking:SZ-own", "lon": LON0, "lat": LAT0, "capacity": 100, "occupied": 40,
           "observed_at": t}  # fmt: skip
    assert ingest.ingest_rows("parking", [own], "json").registered == 1

    simulate.advance_city(city_store, hangzhou, now, None, 1 / 24)
    simulate.advance_city(city_store, SHENZHEN, now, None, 1 / 24)

    assert len(store.sensors(city_store, "traffic", "hangzhou")) > 1000  # simulated, shown
    for city, layer in (("hangzhou", "parking"), ("hangzhou", "air_quality"), ("shenzhen", "traffic")):
        assert store.sensors(city_store, layer, city).empty, (city, layer)  # simulated ones hidden
    lots = store.sensors(city_store, "parking", "shenzhen")
    assert list(lots["source_id"]) == [own["lot_id"]]
    with city_store.connect() as conn:
        written = dict(
            conn.execute(select(store.traffic_obs.c.city, func.count()).group_by(store.traffic_obs.c.city)).all()
        )
        parking_rows = conn.execute(select(func.count()).select_from(store.parking_obs)).scalar()
        incidents = conn.execute(select(func.count()).select_from(store.incident)).scalar()
    assert written.get("hangzhou", 0) > 0 and "shenzhen" not in written
    assert parking_rows == 1 and incidents == 0  # only the feed's row: nothing else simulated
    with dash_app.server.app_context():
        kpis = {k.key: k for k in access.kpis("shenzhen", int(now))}
        sources = access.data_sources("shenzhen")
    assert kpis["parking_occupancy"].value == pytest.approx(40.0)  # the feed's car park alone
    assert sources.simulated == () and sources.sensors == {"traffic": 0, "parking": 1, "air_quality": 0}
    assert access.data_sources("hangzhou").simulated == ("traffic",)


def test_simulated_incidents_are_hidden_where_simulate_leaves_incidents_out(city_store, monkeypatch):
    now = time.time()
    simulate.advance_city(city_store, SHENZHEN, now, None, 3 / 24)  # SIMULATE=all: simulated incidents
    start, end = int(now) - 3 * 3600, int(now)
    simulated = store.incidents_between(city_store, "shenzhen", start, end)
    assert len(simulated) > 5 and simulated["simulated"].all()
    _simulate(monkeypatch, city_store, "hangzhou")
    alert = {"id": "urn:ngsi-ld:Alert:SZ-feed", "type": "Alert", "subCategory": "roadWorks", "severity": "low",
             "location": {"type": "Point", "coordinates": [LON0, LAT0]}, "dateIssued": utc_iso(now - 60)}  # fmt: skip
    assert ingest.ingest_ngsi([alert]).accepted == 1
    shown = store.incidents_between(city_store, "shenzhen", start, end)
    assert list(shown["ref"]) == [alert["id"]]
    assert store.count_incidents(city_store, "shenzhen", start=start, end=end) == 1


def test_open_data_leaves_out_the_simulated_history_of_a_layer_simulate_leaves_out(city_store, dash_app, monkeypatch):
    now = time.time()
    simulate.advance_city(city_store, SHENZHEN, now, None, 2 / 24)  # SIMULATE=all: simulated car parks
    t = store.bucket_of(int(now) - 1800) + 30
    own = {"lot_id": "urn:ngsi-ld:OffStreetParking:SZ-open", "name": "Open car park", "lon": LON0, "lat": LAT0,
           "capacity": 100, "occupied": 40, "observed_at": t}  # fmt: skip
    assert ingest.ingest_rows("parking", [own], "json").registered == 1
    api = dash_app.server.test_client()
    path = f"/api/ogc/collections/parking/items?city=shenzhen&datetime={utc_iso(t)}"
    assert api.get(path).get_json()["numberMatched"] > 100  # the simulated car parks and the feed's
    _simulate(monkeypatch, city_store, "none")
    items = api.get(path).get_json()
    assert items["numberMatched"] == 1 and items["features"][0]["properties"]["name"] == "Open car park"


def find(node, wanted: str):
    """The component with id `wanted` in a layout tree, or None."""
    if getattr(node, "id", None) == wanted:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str) and (hit := find(child, wanted)) is not None:
            return hit
    return None


def test_simulate_none_without_feeds_says_connect_a_feed(city_store, dash_app, monkeypatch):
    from pages import command_centre
    from tests.test_callbacks import _texts

    _simulate(monkeypatch, city_store, "none")
    with dash_app.server.test_request_context():
        sources = access.data_sources("shenzhen")
        page = command_centre.layout(city="shenzhen")
    assert sources.empty
    texts = _texts(page)
    assert "No sensors yet: connect a feed" in texts and "暂无传感器：请接入数据源" in texts
    assert "From feeds and imports only" in texts and "Observations are SIMULATED" not in texts

    assert find(page, "cc-map-empty").hidden is False
    row = {"station": "urn:ngsi-ld:AirQualityObserved:first", "lon": LON0, "lat": LAT0, "pm25": 12.0,
           "observed_at": int(time.time()) - 120}  # fmt: skip
    assert ingest.ingest_rows("air_quality", [row], "json").registered == 1
    with dash_app.server.test_request_context():
        assert not access.data_sources("shenzhen").empty
        assert find(command_centre.layout(city="shenzhen"), "cc-map-empty").hidden is True
        live = access.live_values_since("shenzhen", int(time.time()))
    assert live["geo"] == access.static_version("shenzhen") and live["air_quality"]["n"] == 1


# --- bulk inventories: python -m cli.sensors ----------------------------------------------------------


def test_inventory_import_list_and_retire(city_store, tmp_path, capsys):
    from cli import sensors as cli

    hangzhou_lat, hangzhou_lon = get_city("hangzhou").center
    path = tmp_path / "car_parks.csv"
    path.write_text(
        "id,name,lon,lat,capacity\n"
        f"SZ-CP-1,Civic Centre,{LON0},{LAT0},300\n"
        f"SZ-CP-2,Lianhua Hill,{LON0 + 0.01},{LAT0 + 0.01},120\n"
        f",Nameless,{LON0 - 0.01},{LAT0},80\n"
        f"SZ-CP-far,Paris,2.35,48.85,50\n"
        f"SZ-CP-hz,West Lake,{hangzhou_lon},{hangzhou_lat},50\n"
        f"SZ-CP-nocap,No capacity,{LON0},{LAT0 + 0.02},\n",
        encoding="utf-8",
    )
    assert cli.main(["import", str(path), "--layer", "parking", "--city", "shenzhen"]) == 1
    out = capsys.readouterr().out
    assert "6 rows: 3 sensors registered, 0 already known, 3 rejected" in out
    assert "row 4: position (2.35, 48.85) is outside the six cities" in out
    assert "row 5: position is in hangzhou, not shenzhen" in out and "row 6: " in out and "no capacity" in out
    lot = _sensor(city_store, "parking", "SZ-CP-1")
    assert (lot["source"], lot["capacity"], lot["name"]) == ("import", 300, "Civic Centre")
    assert _sensor(city_store, "parking", "urn:ngsi-ld:OffStreetParking:import-shenzhen-car_parks-3") is not None
    assert cli.main(["import", str(path), "--layer", "parking", "--city", "shenzhen"]) == 1
    assert "0 sensors registered, 3 already known" in capsys.readouterr().out

    import geopandas as gpd
    from shapely.geometry import Point

    stations = gpd.GeoDataFrame(
        {"id": ["urn:ngsi-ld:AirQualityObserved:SZ-1", "urn:ngsi-ld:AirQualityObserved:SZ-2"], "name": ["A", "B"]},
        geometry=[Point(LON0, LAT0), Point(LON0 + 0.02, LAT0)],
        crs=4326,
    )
    for suffix in ("geojson", "gpkg"):
        stations.to_file(tmp_path / f"stations.{suffix}")
        assert (
            cli.main(["import", str(tmp_path / f"stations.{suffix}"), "--layer", "air-quality", "--city", "shenzhen"])
            == 0
        )
    assert "0 sensors registered, 2 already known" in capsys.readouterr().out.splitlines()[-1]

    t = int(time.time()) - 900
    row = {"lot_id": "SZ-CP-1", "occupied": 100, "observed_at": t}
    assert ingest.ingest_rows("parking", [row], "json").accepted == 1
    assert cli.main(["list", "--city", "shenzhen", "--layer", "parking"]) == 0
    listing = capsys.readouterr().out
    assert "SZ-CP-1" in listing and "import" in listing and "sim-shenzhen-0001" in listing
    assert cli.main(["retire", "SZ-CP-1"]) == 0 and "retired parking sensor" in capsys.readouterr().out
    assert "SZ-CP-1" not in set(store.sensors(city_store, "parking", "shenzhen")["source_id"])
    assert store.observations(city_store, "parking", "shenzhen", store.bucket_of(t))["lot_id"].eq(lot["id"]).any()
    later = ingest.ingest_rows("parking", [dict(row, observed_at=t + 60)], "json")
    assert later.accepted == 0 and "is retired" in later.rejected[0]["reason"]
    assert cli.main(["retire", "SZ-CP-1"]) == 1  # no longer in service
    retired = [e for e in operations.audit_entries(city_store, None, None, entity="sensor").to_dict("records")]
    assert [e["action"] for e in retired] == ["retire"]


# --- the registry page: /sensors ------------------------------------------------------------------------


def test_sensor_registry_page_counts_filters_and_only_admins_retire(city_store, dash_app, monkeypatch):
    from data.users import User
    from pages import sensors as page
    from tests.test_callbacks import _texts

    t = int(time.time()) - 1200
    rows = [{"lot_id": f"urn:ngsi-ld:OffStreetParking:SZ-reg-{k}", "name": f"Registry car park {k}", "lon": LON0,
             "lat": LAT0 + 0.001 * k, "capacity": 60, "occupied": 6, "observed_at": t} for k in range(3)]  # fmt: skip
    assert ingest.ingest_rows("parking", rows, "json").registered == 3
    with dash_app.server.test_request_context():
        layout = page.layout(city="shenzhen")
        counts = _texts(layout)
        feed_rows, _ = page.refresh("parking", "feed", "reg-1", None, 0, "shenzhen")
        none_rows, none = page.refresh(None, "feed", "no such thing", None, 0, "shenzhen")
        simulated_rows, more = page.refresh("parking", "simulated", None, None, 0, "shenzhen")
        monkeypatch.setattr(page, "MAX_ROWS", 10)
        cut_rows, cut = page.refresh("parking", "simulated", None, None, 0, "shenzhen")
    lots = len(store.sensors(city_store, "parking", "shenzhen", all_sources=True)) - 3
    assert "Sensors by source" in counts and str(lots) in counts
    assert [(r["source_id"], r["name"]) for r in feed_rows] == [(rows[1]["lot_id"], "Registry car park 1")]
    assert none_rows == [] and "No sensor matches." in _texts(none)
    assert len(simulated_rows) == lots and more is None  # all of them (fewer than the cap)
    assert len(cut_rows) == 10 and f"and {lots - 10:,} more" in _texts(cut)

    monkeypatch.setattr(page, "current_user", lambda: User("op", "operator"))
    with dash_app.server.test_request_context():
        refused, done = page.retire(1, rows[0]["lot_id"], 0)
    assert "needs the admin role" in _texts(refused) and done is dash_no_update()
    assert _sensor(city_store, "parking", rows[0]["lot_id"])["retired_at"] is None
    monkeypatch.setattr(page, "current_user", lambda: User("boss", "admin"))
    with dash_app.server.test_request_context():
        message, done = page.retire(1, rows[0]["lot_id"], 0)
        missing, _ = page.retire(1, "urn:ngsi-ld:OffStreetParking:nope", 1)
    assert "Retired" in _texts(message) and done == 1 and "No sensor in service" in _texts(missing)
    assert _sensor(city_store, "parking", rows[0]["lot_id"])["retired_at"] is not None
    entries = operations.audit_entries(city_store, None, None, entity="sensor").to_dict("records")
    assert [(e["action"], e["actor"]) for e in entries] == [("retire", "boss")]


def dash_no_update():
    import dash

    return dash.no_update


def test_the_header_badge_says_how_much_is_simulated(monkeypatch):
    """SIMULATE=all: "SIMULATED DATA"; some layers: "PARTLY SIMULATED"; none: no badge."""
    import app
    from components.shell import shell
    from data.config import load_settings

    def badge(simulate: str) -> list[str]:
        monkeypatch.setenv("SIMULATE", simulate)
        found = shell([], None, None, app._simulated(load_settings()))
        return [badge["title"] for badge in written_elements(found, class_="sim-badge")]

    assert badge("all") == ["Observations are simulated; see README"]
    assert "Some cities' layers" in badge("hangzhou:traffic")[0]
    assert badge("none") == []


def test_the_public_embed_badge_follows_simulate(monkeypatch, prepared):
    """An embed says "SIMULATED DATA" only for a city SIMULATE drives (the store may still carry the
    simulator's mark from an earlier start)."""
    from public import data as public_data

    monkeypatch.setenv("SIMULATE", "all")
    assert public_data.is_simulated("hangzhou")
    monkeypatch.setenv("SIMULATE", "none")
    assert not public_data.is_simulated("hangzhou")
    monkeypatch.setenv("SIMULATE", "shenzhen:traffic")
    assert not public_data.is_simulated("hangzhou") and public_data.is_simulated("shenzhen")
