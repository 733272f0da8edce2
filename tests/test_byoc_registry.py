"""Issue 18's last parts: the registry page's readings and stale flag, "show on map", road segments that
move, embeds that follow new sensors from an empty map, and the served "Connect your city" docs.

Store tests run on a store of their own, on SQLite and on PostGIS (`city_store` of tests/test_byoc.py).
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, select, text

from data import access, store
from data.feeds import ingest
from data.feeds.ingest import line_distance_m, utc_iso
from data.rules.staleness import is_stale, stale_after_s
from data.store import operations, registry
from tests import test_byoc
from tests.conftest import signed_in_client
from tests.test_byoc import LAT0, LON0, _sensor, _simulate, find
from tests.test_callbacks import _texts
from tests.written import written_elements

pytestmark = pytest.mark.filterwarnings("ignore:Did not recognize type .geometry.")
city_store = test_byoc.city_store  # the same fixture: a store of the test's own, SQLite and PostGIS


# --- rules ------------------------------------------------------------------------------------------


def test_a_sensor_is_stale_after_three_of_its_layers_reporting_intervals():
    now = 1_800_000_000
    assert stale_after_s("traffic") == stale_after_s("parking") == 45 * 60 and stale_after_s("air_quality") == 3 * 3600
    assert not is_stale("parking", now - 45 * 60, now) and is_stale("parking", now - 45 * 60 - 1, now)
    assert not is_stale("air_quality", now - 2 * 3600, now) and is_stale("air_quality", now - 4 * 3600, now)
    assert is_stale("traffic", None, now) and is_stale("traffic", float("nan"), now)  # never reported


def test_line_distance_is_the_hausdorff_distance_in_metres():
    line = [[114.05, 22.54], [114.06, 22.545], [114.07, 22.545]]
    assert line_distance_m(line, line[::-1]) == pytest.approx(0.0, abs=1e-6)  # the same line, drawn backwards
    north = [[x, y + 0.001] for x, y in line]  # 0.001° of latitude: ~111 m
    assert line_distance_m(line, north) == pytest.approx(111.2, abs=0.5)
    bent = [line[0], line[1], [114.07, 22.5455]]  # only the last vertex, ~55.6 m north
    assert line_distance_m(line, bent) == pytest.approx(55.6, abs=0.5)
    longer = [*line, [114.0705, 22.545]]  # ~51 m longer at one end: as far as its new end lies
    assert line_distance_m(line, longer) == pytest.approx(51.4, abs=0.5)


def test_a_road_segment_is_shown_halfway_along_its_line():
    lines = ["[[0, 0], [2, 0]]", "[[0, 0], [1, 0], [1, 1], [1, 3]]", "[[5, 5], [5, 7], [9, 7]]"]  # vertex counts differ
    lon, lat = registry.line_midpoints(lines)
    assert list(zip(lon, lat, strict=True)) == [(1, 0), (1, 1), (6, 7)] and registry.line_midpoints([])[0].size == 0


# --- the registry's readings --------------------------------------------------------------------------


def _feed(t: int) -> list[dict]:
    road = {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0 + 0.002, LAT0], [LON0 + 0.002, LAT0 + 0.002]]}
    here = {"type": "Point", "coordinates": [LON0 + 0.01, LAT0 + 0.01]}
    return [
        {"id": "urn:ngsi-ld:TrafficFlowObserved:reg-road", "type": "TrafficFlowObserved", "location": road,
         "averageVehicleSpeed": 31.5, "dateObserved": utc_iso(t)},
        {"id": "urn:ngsi-ld:OffStreetParking:reg-lot", "type": "OffStreetParking", "location": here,
         "totalSpotNumber": 80, "occupiedSpotNumber": 20, "dateObserved": utc_iso(t)},
        {"id": "urn:ngsi-ld:AirQualityObserved:reg-air", "type": "AirQualityObserved", "location": here,
         "pm10": 61.0, "dateObserved": utc_iso(t)},
    ]  # fmt: skip


def test_registry_rows_give_first_and_last_reading_and_the_newest_value_in_one_query(city_store):
    now = int(time.time())
    first, last = now - 5 * 3600, now - 4 * 3600
    assert ingest.ingest_ngsi(_feed(first)).registered == 3
    later = _feed(last)
    later[0]["averageVehicleSpeed"], later[1]["occupiedSpotNumber"], later[2]["pm10"] = 44.0, 70, 12.5
    assert ingest.ingest_ngsi(later).accepted == 3

    statements: list[str] = []
    count = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(city_store, "before_cursor_execute", count)
    try:
        frame = registry.registry_rows(city_store, "shenzhen")
    finally:
        event.remove(city_store, "before_cursor_execute", count)

    assert len(statements) == 1  # one query for every sensor of the city, not one per sensor
    assert len(frame) == sum(
        len(store.sensors(city_store, k, "shenzhen", all_sources=True)) for k in store.SENSOR_TABLES
    )
    rows = frame.set_index("source_id")
    road, lot, air = (rows.loc[e["id"]] for e in later)
    assert (road["first_seen"], road["last_seen"], road["value"], road["measure"]) == (first, last, 44.0, "speed_kmh")
    assert (lot["value"], lot["capacity"], lot["measure"]) == (70, 80, "occupied")
    assert (air["value"], air["measure"], air["first_seen"]) == (12.5, "pm10", first)
    # A road segment is shown at its midpoint: halfway along the line, here its middle vertex.
    assert (road["lon"], road["lat"]) == pytest.approx((LON0 + 0.002, LAT0), abs=2e-4)
    assert (lot["lon"], lot["lat"]) == pytest.approx((LON0 + 0.01, LAT0 + 0.01))
    never = rows[rows["source"] == "simulated"]  # nothing simulated has reported into this store
    assert never["last_seen"].isna().all() and never["value"].isna().all()


def test_sensors_page_shows_readings_filters_stale_and_show_on_map_focuses_the_sensor(city_store, dash_app):
    from pages import command_centre
    from pages import sensors as page

    now = int(time.time())
    assert ingest.ingest_ngsi(_feed(now - 5 * 3600)).registered == 3
    fresh = _feed(now - 600)[1:]  # the car park and the station report again; the road does not
    assert ingest.ingest_ngsi(fresh).accepted == 2
    with dash_app.server.test_request_context():
        counts = _texts(page.layout(city="shenzhen"))
        feed, _ = page.refresh(None, "feed", None, None, 0, "shenzhen")
        stale = _rows_text(page.refresh(None, "feed", None, "stale", 0, "shenzhen"))
        reporting = _rows_text(page.refresh(None, "feed", None, "reporting", 0, "shenzhen"))
        road_only = page.refresh("traffic", None, "REG-ROAD" + "x" * 500, None, 0, "shenzhen")
        road, _ = page.refresh("traffic", None, "REG-ROAD", None, 0, "shenzhen")
        hostile = page.refresh({"$": 1}, ["feed"], 10**30, ["x"], None, ["nope"])
    texts = _rows_text((feed, None))
    assert "reg-road" in texts and "31.5 km/h" in texts and "20 / 80 occupied" in texts and "PM10 61 µg/m³" in texts
    assert "已占用 20 / 80" in texts and "数据中断" in texts  # both languages, the grid shows one
    assert {r["state_en"] for r in feed} == {"stale", "reporting"} and [r["stale"] for r in feed].count(True) == 1
    assert "reg-road" in stale and "reg-lot" not in stale and "reg-air" not in stale
    assert "reg-lot" in reporting and "reg-air" in reporting and "reg-road" not in reporting
    assert "Stale" in counts and road_only[0] == [] and "No sensor matches." in _texts(road_only[1])  # cut, not whole
    assert "reg-road" in _rows_text(hostile) or "No sensor matches." in _rows_text(hostile)  # garbage: no error

    assert len(road) == 1 and road[0]["map_en"].startswith("[show on map](/?") and "[地图上查看](" in road[0]["map_zh"]
    link = road[0]["map_en"].split("](", 1)[1].rstrip(")")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert urlsplit(link).path == "/" and query["city"] == "shenzhen" and query["z"] == str(page.STREET_ZOOM)
    assert (float(query["lon"]), float(query["lat"])) == pytest.approx((LON0 + 0.002, LAT0), abs=2e-4)  # midpoint
    with dash_app.server.test_request_context():
        cc = command_centre.layout(**query)
    view = find(cc, "cc-map")
    assert view.zoom == page.STREET_ZOOM and view.center == pytest.approx([float(query["lat"]), float(query["lon"])])


def _rows_text(answer) -> str:
    """Every value of the grid's rows and the note under it, as one text."""
    rows, note = answer
    return " ".join(str(v) for row in rows for v in row.values()) + " " + _texts(note)


def _router(client, pathname: str):
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": ""},
        ],
        "changedPropIds": [],
    }
    return client.post("/_dash-update-component", json=body)


def test_viewers_and_the_public_cannot_reach_the_sensor_registry(dash_app, anon_client):
    viewer, operator = signed_in_client(dash_app, "viewer"), signed_in_client(dash_app, "operator")
    grid = {"key": "sr-sensors", "type": "rg-grid"}
    table = {
        "output": f"..{json.dumps(grid, separators=(',', ':'))}.rowData...sr-table.children..",
        "outputs": [{"id": grid, "property": "rowData"}, {"id": "sr-table", "property": "children"}],
        "inputs": [
            {"id": f"sr-{k}", "property": "value", "value": None} for k in ("layer", "source", "search", "state")
        ]
        + [{"id": "sr-done", "property": "data", "value": 0}],
        "state": [{"id": "sr-city", "property": "data", "value": "shenzhen"}],
        "changedPropIds": [],
    }
    assert viewer.get("/sensors").status_code == 403 and anon_client.get("/sensors").status_code == 302
    for client, status in ((viewer, 403), (anon_client, 401)):
        for answer in (
            _router(client, "/sensors"),
            _router(client, "//sensors/"),
            client.post("/_dash-update-component", json=table),
        ):
            assert answer.status_code == status and '"sr-' not in answer.get_data(as_text=True)
    assert _router(operator, "/sensors").status_code == 200
    assert operator.post("/_dash-update-component", json=table).status_code == 200


# --- road segments that move ---------------------------------------------------------------------------


def _flat(line: list) -> list[float]:
    return [c for position in line for c in position]


def test_a_road_segment_reported_more_than_50_m_away_moves_and_the_move_is_audited(city_store):
    t = int(time.time()) - 3 * 3600
    line = [[LON0, LAT0], [LON0 + 0.003, LAT0 + 0.001], [LON0 + 0.006, LAT0 + 0.001]]
    sid = "urn:ngsi-ld:TrafficFlowObserved:SZ-mover"

    def report(coords, dt: int) -> ingest.IngestResult:
        place = {"type": "LineString", "coordinates": coords}
        entity = {"id": sid, "type": "TrafficFlowObserved", "averageVehicleSpeed": 30.0,
                  "dateObserved": utc_iso(t + dt), "location": place}  # fmt: skip
        return ingest.ingest_ngsi([entity])

    assert report(line, 0).registered == 1
    before = _sensor(city_store, "traffic", sid)
    near = [[x, y + 0.0003] for x, y in line]  # ~33 m: the same segment, drawn a little differently
    assert report(near, 900).accepted == 1 and _sensor(city_store, "traffic", sid)["coords"] == before["coords"]
    version = access.static_version("shenzhen")
    moved = [[x + 0.0006, y + 0.0006] for x, y in line[:2]] + [[LON0 + 0.010, LAT0 + 0.001]]  # its end ~400 m on
    assert line_distance_m(line, moved) > 50
    assert report(moved, 1800).accepted == 1

    after = _sensor(city_store, "traffic", sid)
    assert _flat(json.loads(after["coords"])) == pytest.approx(_flat(moved)) and after["id"] == before["id"]
    assert after["length_m"] > before["length_m"] + 250 and access.static_version("shenzhen") != version
    if store.is_spatial(city_store):  # PostGIS: the generated geometry follows the line
        with city_store.connect() as conn:
            geom = conn.execute(
                text("SELECT ST_AsGeoJSON(geom, 6) FROM road_segment WHERE id = :id"), {"id": after["id"]}
            ).scalar()
        assert _flat(json.loads(geom)["coordinates"]) == pytest.approx(_flat(moved))
    entries = [e for e in operations.audit_entries(city_store, None, None, entity="sensor").to_dict("records")]
    assert [e["action"] for e in entries] == ["move"]
    assert json.loads(entries[0]["before"])["coords"] == before["coords"]
    assert _flat(json.loads(json.loads(entries[0]["after"])["coords"])) == pytest.approx(_flat(moved))
    assert json.loads(entries[0]["before"])["source_id"] == sid

    hangzhou = [[120.16, 30.27], [120.17, 30.275]]
    away = report(hangzhou, 2700)
    assert away.accepted == 0 and "outside shenzhen, the sensor's city" in away.rejected[0]["reason"]
    assert _flat(json.loads(_sensor(city_store, "traffic", sid)["coords"])) == pytest.approx(_flat(moved))


# --- public embeds from an empty map -------------------------------------------------------------------


def _embed_call(client, output: str, outputs: list[dict], inputs: list[dict]) -> dict:
    body = {"output": output, "outputs": outputs, "inputs": inputs, "changedPropIds": []}
    answer = client.post("/embed/_dash-update-component", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()["response"]


def test_an_embed_on_an_empty_city_follows_the_sensors_a_feed_registers(city_store, dash_app, monkeypatch):
    _simulate(monkeypatch, city_store, "none")
    client = dash_app.server.test_client()
    configured = _embed_call(
        client,
        "..em-root.children...em-config.data...em-interval.disabled..",
        [{"id": k, "property": p} for k, p in (("em-root", "children"), ("em-config", "data"),
                                                ("em-interval", "disabled"))],
        [{"id": "em-url", "property": "pathname", "value": "/embed/parking"},
         {"id": "em-url", "property": "search", "value": "?city=shenzhen&lang=en"}],
    )  # fmt: skip
    config = configured["em-config"]["data"]
    assert config["geometry"] == {"em-map-parking": "/embed/geo/shenzhen/parking.json"}
    empty = client.get(f"/embed/geo/shenzhen/parking.json?v={config['geo']}")
    assert empty.status_code == 200 and json.loads(empty.data) == {"type": "FeatureCollection", "features": []}

    def refresh() -> dict:
        return _embed_call(
            client,
            "..em-live.data...em-time.children..",
            [{"id": "em-live", "property": "data"}, {"id": "em-time", "property": "children"}],
            [
                {"id": "em-tick", "property": "data", "value": 1},
                {"id": "em-config", "property": "data", "value": config},
            ],
        )["em-live"]["data"]

    first = refresh()
    assert first["geo"] == config["geo"] and first["parking"]["free"] == []
    lot = {"lot_id": "urn:ngsi-ld:OffStreetParking:SZ-embed", "name": "Embed car park", "lon": LON0, "lat": LAT0,
           "capacity": 50, "occupied": 10, "observed_at": int(time.time()) - 120}  # fmt: skip
    assert ingest.ingest_rows("parking", [lot], "json").registered == 1
    second = refresh()
    assert second["geo"] != config["geo"] and second["parking"]["free"] == [40]
    features = json.loads(client.get(f"/embed/geo/shenzhen/parking.json?v={second['geo']}").data)["features"]
    assert [f["properties"]["name"] for f in features] == ["Embed car park"]


# --- the served documentation ----------------------------------------------------------------------------


def test_connect_your_city_is_served_publicly_in_both_languages(dash_app, anon_client):
    from components.data_sources import FEEDS_HELP, empty_map_note
    from pages import docs

    assert anon_client.get(docs.PATH).status_code == 200
    answer = _router(anon_client, docs.PATH)
    assert answer.status_code == 200
    body = json.dumps(answer.get_json(), ensure_ascii=False)
    for wanted in ("# Connect your city", "# 接入您的城市", "/api/v1/ngsi/notify", "python -m cli.sensors import",
                   "SIMULATE=hangzhou:traffic", "lang-zh", "lang-en"):  # fmt: skip
        assert wanted in body, wanted
    assert FEEDS_HELP == docs.PATH and [a["href"] for a in written_elements(empty_map_note("x", False), "a")] == [
        docs.PATH
    ]
    readme = (docs.DOCS.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Connect your city", 1)[1].split("\n## ", 1)[0]
    assert "docs/connect-your-city.md" in section and "curl" not in section  # a pointer, not a second copy


def test_the_csv_examples_of_the_docs_register_what_they_say(city_store, dash_app):
    from pages import docs

    text_en = docs.TEXTS["en"]
    for layer in ("parking", "traffic"):
        line = next(x for x in text_en.splitlines() if x.endswith(f"/api/v1/ingest/{layer}"))
        csv = line.split("--data-binary $'", 1)[1].split("' http", 1)[0].encode().decode("unicode_escape")
        stamp = utc_iso(int(time.time()) - 600)
        csv = csv.replace("2026-12-06T10:00:00Z", stamp)
        answer = dash_app.server.test_client().post(
            f"/api/v1/ingest/{layer}", data=csv, headers={"X-API-Key": "test-key-1", "Content-Type": "text/csv"}
        )
        assert answer.status_code == 200 and answer.get_json()["new_sensors"] == 1, answer.get_json()
    assert _sensor(city_store, "traffic", "SZ-RD-1")["source"] == "feed"
    assert _sensor(city_store, "parking", "SZ-PK-1")["capacity"] == 300
    with city_store.connect() as conn:
        assert (
            conn.execute(select(store.road_segment.c.city).where(store.road_segment.c.source_id == "SZ-RD-1")).scalar()
            == "shenzhen"
        )
