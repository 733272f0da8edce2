"""Command-centre callbacks, called directly and through Dash's HTTP endpoint, and the data routes."""

from __future__ import annotations

import gzip
import json
import re
import time

import pytest
from dash import no_update

from data import access, live_now
from data.rules import clock
from tests.conftest import refresh_map_body
from tests.written import written_text


@pytest.fixture(scope="module")
def cc(dash_app):
    from pages import command_centre

    return command_centre


def _texts(component) -> str:
    """All text inside a Dash component tree, as a person would read it (both languages), with the
    HTML components/markup.py writes."""
    out = []

    def walk(node):
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, (str, int, float)):
            out.append(str(node))
        elif hasattr(node, "children"):
            walk(node.children)

    walk(component)
    return (" ".join(out) + " " + written_text(component)).strip()


def test_refresh_map_sends_values_not_geometry(cc, dash_app):
    with dash_app.server.test_request_context():
        payload, label = cc.refresh_map(1, "live", 0, "hangzhou")
    assert set(payload) == {"at", "geo", "traffic", "parking", "air_quality", "incidents"}
    assert "coordinates" not in json.dumps(payload)  # geometry comes once, by URL
    assert payload["geo"] == cc.access.static_version("hangzhou")  # only its version, to refetch it when it moves
    assert len(payload["traffic"]["ci"]) >= 2000
    incidents = payload["incidents"]
    assert incidents["id"], "open incidents expected in Hangzhou"
    assert len({len(incidents[k]) for k in ("id", "kind", "sev", "status", "lon", "lat", "age", "district")}) == 1
    assert all(incidents["statuses"][s] != "resolved" for s in incidents["status"])
    assert len(json.dumps(payload)) < 200_000  # a live refresh of all layers stays under 200 KB
    assert "Live" in _texts(label) and "实时" in _texts(label)


def test_history_mode_shows_the_chosen_past_time(cc, dash_app):
    window = access.history_window()
    step = window.steps - 8  # two hours ago
    with dash_app.server.test_request_context():
        payload, label = cc.refresh_map(1, "history", step, "hangzhou")
    assert payload["at"] == access.resolve_at("history", step)
    assert clock.local_label(payload["at"]) in _texts(label)
    assert "History" in _texts(label)


def _cards(data: dict) -> list[str]:
    """Each card's text as the browser shows it after a refresh: assets/citybrain.js makes the cards from
    the grid's card_spec (labels, units, fixed texts) and writes these fields of the data into them."""
    from components.kpi import card_spec
    from components.trend import SPARK

    spec = card_spec(SPARK)
    fixed = {c["key"]: c for c in spec["cards"]}
    texts = []
    for v in data["cards"]:
        detail = v["detail"] if isinstance(v["detail"], list | tuple) else [v["detail"]]  # [en, zh]: a station
        parts = [*fixed[v["key"]]["label"], v["value"], *fixed[v["key"]]["unit"], *detail, *(v["fc"] or [])]
        if v["change"] is not None:
            parts += [v["change"], *spec["vs"]]
        parts += [*v["age"], *(spec["stale"] if v["stale"] else [])]
        texts.append(" ".join(parts))
    return texts


def test_refresh_panels_renders_nine_kpis_and_alerts(cc, dash_app):
    with dash_app.server.test_request_context():
        kpis, alerts = cc.refresh_panels(1, "live", 0, "hangzhou")
    cards = _cards(kpis)
    assert len(cards) == 9
    text = _texts(cards)
    for label in ("Mean speed", "km/h", "Parking occupancy", "%", "City AQI", "vs yesterday", "ago"):
        assert label in text
    assert isinstance(alerts, list) and all(len(row) == 3 and row[0].startswith("alert ") for row in alerts)
    assert len(json.dumps([kpis, alerts])) < 40_000  # data, not components: a few kB per refresh


def test_a_failing_panel_shows_its_own_error_state(cc, dash_app, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(access, "kpis_from", broken)  # what the live view computes the KPIs with
    live_now.clear()
    with dash_app.server.test_request_context():
        kpis, alerts = cc.refresh_panels(1, "live", 0, "hangzhou")
    assert kpis == {"error": True}  # the panel's "Temporarily unavailable" state (applyPanels shows it)
    assert "database went away" not in json.dumps(kpis)  # no internals reach the browser
    assert isinstance(alerts, list)  # the other panel still works


def test_both_live_panels_come_from_one_view_and_fail_together_when_it_fails(cc, dash_app, monkeypatch):
    live_now.clear()  # (a view held from a test before may hold its failed KPIs)
    real, asked = live_now.view, []
    monkeypatch.setattr(live_now, "view", lambda *a, **k: asked.append(a) or real(*a, **k))
    with dash_app.server.test_request_context():
        kpis, alerts = cc.refresh_panels(1, "live", 0, "hangzhou")
    assert len(asked) == 1 and len(kpis["cards"]) == 9 and isinstance(alerts, list)

    def unreadable(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(access, "current_values", unreadable)
    live_now.clear()
    with dash_app.server.test_request_context():
        assert cc.refresh_panels(1, "live", 0, "hangzhou") == ({"error": True}, {"error": True})


def test_map_refresh_failure_keeps_the_last_values(cc, dash_app, monkeypatch):
    monkeypatch.setattr(access, "_live_values", lambda *_a: 1 / 0)  # the values behind every map refresh
    live_now.clear()
    with dash_app.server.test_request_context():
        payload, label = cc.refresh_map(1, "live", 0, "hangzhou")
    assert payload is no_update
    assert "unavailable" in _texts(label)


def test_mode_switch_enables_the_right_controls(cc):
    assert cc.switch_mode("history") == (False, False, True)
    assert cc.switch_mode("live") == (True, True, False)


def test_playback_wraps_around(cc):
    assert cc.advance_playback(1, 5, 672) == 6
    assert cc.advance_playback(1, 672, 672) == 0


def test_city_menu_links_every_city_to_a_shareable_url(cc):
    menu = cc._city_menu("hangzhou")
    written = menu.to_plotly_json()["props"]["data-html"]
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>', written)
    assert [href for href, _ in links] == [f"/?city={key}" for key in cc.CITIES]
    assert [href for href, current in links if current] == ["/?city=hangzhou"]
    assert "Shenzhen" in written and "深圳" in written


def test_layout_for_unknown_city_explains_and_links(cc):
    layout = cc.layout(city="atlantis")
    text = _texts(layout)
    assert "Unknown city: atlantis" in text
    assert "Shenzhen" in text and "雄安" in text


def test_callback_answers_through_dashs_http_endpoint(client):
    body = refresh_map_body("shenzhen")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    data = response.get_json()["response"]["cc-live"]["data"]
    assert abs(data["at"] - time.time()) < 60 and len(data["traffic"]["ci"]) >= 2000


def test_geometry_is_served_gzipped_with_an_etag(client):
    response = client.get("/geo/hangzhou/roads.json?v=1", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    collection = json.loads(gzip.decompress(response.data))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) >= 2000
    assert "max-age=86400" in response.headers["Cache-Control"]
    again = client.get("/geo/hangzhou/roads.json?v=1", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/geo/atlantis/roads.json").status_code == 404
    assert client.get("/geo/hangzhou/secrets.json").status_code == 404


def test_districts_are_real_outlines_in_wgs84(client):
    collection = client.get("/geo/hangzhou/districts.json").get_json()
    names = {f["properties"]["name_zh"] for f in collection["features"]}
    assert {"西湖区", "上城区", "临平区", "钱塘区"} <= names and len(names) == 13


def test_healthz_reports_database_and_data_age(client):
    report = client.get("/healthz").get_json()
    assert report["status"] == "ok" and report["database"]["reachable"] is True
    assert report["database"]["backend"] == "sqlite"
    assert set(report["layers"]) >= {"traffic", "parking", "air_quality", "incidents"}
    assert report["layers"]["traffic"]["hangzhou"]["newest_age_s"] >= 0


def test_a_forecast_step_shows_forecast_kpis_with_their_interval_or_why_not(cc, dash_app):
    """Issue 19: past now, the cards show the city forecast (the lots' sum, interval combined as
    data/rules/forecast_kpis.py says) marked FORECAST; a layer whose model lost to its baseline says so."""
    from data import store
    from data.store import forecasts as fstore

    city, engine, now = "beijing", store.get_engine(), int(time.time())
    origin = clock.floor_bucket(now)
    lots = store.sensors(engine, "parking", city).head(2)
    fit = {"city": city, "fit_seconds": 1.0, "history_from": now - 7 * 86400, "history_to": origin, "n": 100,
           "fitted_at": now, "train_rows": 600, "better": "persistence", "hit_rate": None, "coverage": 0.8,
           "baselines": {"persistence": 1.0, "yesterday": 2.0, "last_week": None},
           "model": "hgb-1", "mae": 0.5}  # fmt: skip
    rows = [
        {"sensor_id": int(i), "target": origin + k * 900, "origin": origin, "value": v, "low": lo, "high": hi,
         "primary_pollutant": None}
        for i, (v, lo, hi) in zip(lots["id"], [(10.0, 7.0, 12.0), (20.0, 16.0, 20.0)], strict=True)
        for k in range(1, 7)
    ]  # fmt: skip
    fstore.write_fit(engine, fit | {"layer": "parking", "served": True, "skill": 0.3}, rows, [])
    fstore.write_fit(engine, fit | {"layer": "traffic", "served": False, "skill": -0.1}, [], [])
    step = access.history_window().steps + 2
    with dash_app.server.test_request_context():
        kpis, _alerts = cc.refresh_panels(1, "history", step, city)
        live, _ = cc.refresh_panels(1, "live", 0, city)
    views = {v["key"]: v for v in kpis["cards"]}
    free = views["free_spaces"]
    assert free["value"] == "30" and free["change"] is None
    assert free["fc"] == ["FORECAST · 80 % interval 25 – 32", "预测 · 80% 区间 25 – 32"]  # 30 − √(3²+4²), 30 + √(2²)
    capacity = float(lots["capacity"].sum())
    assert views["parking_occupancy"]["value"] == f"{(capacity - 30) / capacity * 100:.1f}".rstrip("0").rstrip(".")
    assert views["congestion_index"]["value"] == "—"
    assert views["congestion_index"]["fc"] == ["no forecast: baseline better", "无预测：基准更优"]
    assert views["open_incidents"]["fc"][0] == "no forecast for this indicator"
    text = _texts(_cards(kpis))
    assert "FORECAST · 80 % interval 25 – 32" in text and "预测" in text
    assert all(v["fc"] is None and v["change"] for v in live["cards"])  # live: the present, no mark
