"""Open data: a future `datetime` instant returns forecast features (`forecast: true`, the 80 % interval,
the model); a past one stays observations; a layer whose model lost to its baseline returns none.

The forecasts are written straight into the session's store (hand-made values): what a fit produces
is checked in tests/test_forecast_backtest.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from data import store
from data.rules.clock import floor_bucket
from data.store import forecasts as fstore
from public.data import iso as public_iso

CITY = "guangzhou"


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def target(dash_app):
    engine = store.get_engine()
    now = int(time.time())
    origin = floor_bucket(now)
    lots = store.sensors(engine, "parking", CITY)
    values = [
        {"sensor_id": int(lot.id), "target": origin + 1800, "origin": origin, "value": float(lot.capacity // 2),
         "low": float(lot.capacity // 2 - 10), "high": float(lot.capacity // 2 + 10), "primary_pollutant": None}
        for lot in lots.itertuples()
    ]  # fmt: skip
    fit = {"city": CITY, "fit_seconds": 1.0, "history_from": now - 7 * 86400, "history_to": origin, "n": 4000,
           "fitted_at": now, "train_rows": 60000, "better": "persistence", "hit_rate": None, "coverage": 0.8,
           "baselines": {"persistence": 38.5, "yesterday": 88.3, "last_week": None}}  # fmt: skip
    fstore.write_fit(
        engine, fit | {"layer": "parking", "model": "hgb-1", "served": True, "mae": 33.0, "skill": 0.1}, values, []
    )
    fstore.write_fit(
        engine, fit | {"layer": "traffic", "model": "hgb-1", "served": False, "mae": 9.0, "skill": -0.1}, [], []
    )
    return origin + 1800, len(lots)


def test_a_future_instant_returns_forecast_features(anon_client, target):
    at, n_lots = target
    body = anon_client.get(
        f"/api/ogc/collections/parking/items?city={CITY}&datetime={iso(at + 60)}&limit=50"
    ).get_json()
    assert body["numberMatched"] == n_lots and body["numberReturned"] == 50
    props = body["features"][0]["properties"]
    assert props["forecast"] is True and props["model"] == "hgb-1" and props["interval"] == "80%"
    assert props["time_start"] == public_iso(at) and props["time_end"] == public_iso(at + 900)
    assert props["free_spaces_low"] + 10 == props["free_spaces"] == props["free_spaces_high"] - 10
    assert props["occupancy_level"] and props["simulated"] is True
    assert body["features"][0]["id"].startswith("forecast-")
    lon, lat = body["features"][0]["geometry"]["coordinates"]
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    near = anon_client.get(f"/api/ogc/collections/parking/items?city={CITY}&datetime={iso(at)}&bbox={box}").get_json()
    assert 1 <= near["numberMatched"] < n_lots and all(f["properties"]["forecast"] for f in near["features"])
    # the CSV carries the interval too
    csv = anon_client.get(f"/api/ogc/collections/parking/items?city={CITY}&datetime={iso(at)}&limit=5&f=csv")
    header = csv.get_data(as_text=True).splitlines()[0].split(",")
    assert {"free_spaces_low", "free_spaces_high", "forecast", "model"} <= set(header)


def test_past_instants_stay_observations_and_unserved_or_far_futures_are_empty(anon_client, target):
    at, _ = target
    past = anon_client.get(f"/api/ogc/collections/parking/items?city={CITY}&datetime={iso(at - 7200)}&limit=3")
    assert past.status_code == 200
    assert past.get_json()["numberReturned"] == 3 and "forecast" not in past.get_json()["features"][0]["properties"]
    lost = anon_client.get(f"/api/ogc/collections/traffic/items?city={CITY}&datetime={iso(at)}").get_json()
    assert lost["numberMatched"] == 0 and lost["features"] == []  # the baseline was better: no forecast
    beyond = anon_client.get(f"/api/ogc/collections/parking/items?city={CITY}&datetime={iso(at + 86400)}").get_json()
    assert beyond["numberMatched"] == 0


# --- the command centre's time slider past now ------------------------------------------------------


def _clear_of_a_bucket_edge(margin: float = 60.0) -> None:
    """Sleep past the next 15-minute edge if it is less than `margin` seconds away."""
    left = store.BUCKET_SECONDS - time.time() % store.BUCKET_SECONDS
    if left < margin:
        time.sleep(left + 1)


def test_the_slider_past_now_shows_forecasts_with_intervals_and_says_which_layers_have_none(dash_app, target):
    from data import access
    from pages import command_centre
    from tests.test_callbacks import _texts

    at, n_lots = target
    _clear_of_a_bucket_edge()  # the window read below must still be the one the answers use
    with dash_app.server.test_request_context():
        window = access.history_window()
        ahead = (at - window.last_bucket) // store.BUCKET_SECONDS
        payload, label = command_centre._live_answer(CITY, "history", window.steps + ahead, None)
        text = _texts(label)
        assert text.startswith("FORECAST") and f"+{ahead * 15} min" in text
        assert "Traffic: no forecast: baseline better" in text and "交通：无预测：基准更优" in text
        parking = payload["parking"]
        assert payload["forecast"]["parking"]["served"] and payload["forecast"]["parking"]["model"] == "hgb-1"
        assert parking["n"] == n_lots and parking["v"].startswith("fc:")
        assert all(
            lo + 10 == v == hi - 10
            for lo, v, hi in zip(parking["free_low"], parking["free"], parking["free_high"], strict=True)
        )
        assert all(v is None for v in payload["traffic"]["ci"])  # nothing drawn for a layer without a forecast
        # back to live: the ordinary answer, without the forecast key
        live, live_label = command_centre._live_answer(CITY, "live", window.steps, None)
        assert "forecast" not in live and _texts(live_label).startswith("Live")
        # past the last forecast step the slider stops at +72 h (air quality's outlook)
        capped, _ = command_centre._live_answer(CITY, "history", window.steps + 999, None)
        assert capped["at"] == window.last_bucket + 72 * 3600


# --- alerts on forecasts: a separate, labelled kind that never opens an incident ---------------------


def test_forecast_alerts_are_labelled_and_never_open_incidents(dash_app):
    import inspect

    from data import access
    from data.jobs import alerting
    from pages import command_centre
    from tests.test_callbacks import _texts

    city, engine, now = "xiongan", store.get_engine(), int(time.time())
    origin = floor_bucket(now)
    lots = store.sensors(engine, "parking", city)["id"].head(3).tolist()
    segs = store.sensors(engine, "traffic", city)["id"].head(2).tolist()
    stations = store.sensors(engine, "air_quality", city)["id"].head(4).tolist()
    fit = {"city": city, "fit_seconds": 1.0, "history_from": now - 7 * 86400, "history_to": origin, "n": 100,
           "fitted_at": now, "train_rows": 600, "better": "persistence", "hit_rate": None, "coverage": 0.8,
           "baselines": {"persistence": 1.0, "yesterday": 2.0, "last_week": None}, "model": "hgb-1", "served": True,
           "mae": 0.5, "skill": 0.5}  # fmt: skip

    def rows(ids, target, value):
        return [{"sensor_id": i, "target": target, "origin": origin, "value": value, "low": value, "high": value,
                 "primary_pollutant": None} for i in ids]  # fmt: skip

    fstore.write_fit(
        engine, fit | {"layer": "parking"}, rows(lots, origin + 1800, 0.0) + rows(lots, origin + 3600, 0.0), []
    )
    fstore.write_fit(
        engine, fit | {"layer": "traffic"}, rows(segs, origin + 900, 1.4) + rows(segs, origin + 2700, 2.3), []
    )
    fstore.write_fit(
        engine, fit | {"layer": "air_quality"}, rows(stations[:2], floor_bucket(now, 3600) + 5 * 3600, 230.0), []
    )
    with dash_app.server.test_request_context():
        found = {a.key: a for a in access.forecast_alerts(city, now)}
        assert (found["forecast_lots_full"].count, found["forecast_lots_full"].detail) == (3, "30")
        assert (found["forecast_congested"].count, found["forecast_congested"].detail) == (2, "45")
        assert found["forecast_aqi_heavy"].count == 2 and found["forecast_aqi_heavy"].level == "warning"
        _cards, alert_view = command_centre.refresh_panels(1, "live", 0, city)
        text = _texts(alert_view)
        assert "FORECAST: 3 car parks full within the hour (first in 30 min)" in text
        assert "预测：24 小时内 2 个站点 AQI 超过 200" in text
        _cards, past_view = command_centre.refresh_panels(1, "history", 5, city)
        assert "FORECAST" not in _texts(past_view)  # a past moment shows what was observed then
    # the rules that open incidents read observations only
    assert "forecast" not in inspect.getsource(alerting)


# --- air quality to +72 h at hourly steps, and the city's outlook in HJ 633 levels -------------------


def test_slider_steps_are_quarter_hours_to_one_hour_then_hours_to_72():
    from data import access

    last = 1_000_000 * 900
    assert [access.forecast_step_at(last, k) - last for k in (1, 4, 5, 27, 75)] == [900, 3600, 7200, 86400, 259200]
    assert access.forecast_step_at(last, 500) - last == 72 * 3600 and access.forecast_step_at(last, -3) - last == 900
    assert access.FORECAST_SLIDER_STEPS == 75


def test_aqi_beyond_an_hour_comes_from_the_outlook_model_and_parking_is_hidden(dash_app):
    from data import access
    from pages import command_centre
    from tests.test_callbacks import _texts

    _clear_of_a_bucket_edge()  # `now` and the window read below must name the same bucket
    city, engine, now = "chengdu" if "chengdu" in access.CITIES else "xiongan", store.get_engine(), int(time.time())
    stations = store.sensors(engine, "air_quality", city)["id"].tolist()
    hour = floor_bucket(now, 3600)
    fit = {"city": city, "fit_seconds": 1.0, "history_from": hour - 7 * 86400, "history_to": hour, "n": 100,
           "fitted_at": now, "train_rows": 600, "better": "persistence", "hit_rate": 0.6, "coverage": 0.8,
           "baselines": {"persistence": 20.0, "yesterday": 25.0, "last_week": None}, "model": "ridge-h-1",
           "mae": 15.0, "skill": 0.25, "served": True}  # fmt: skip

    def rows(hours, value, spread):
        return [{"sensor_id": s, "target": hour + h * 3600, "origin": hour, "value": value, "low": value - spread,
                 "high": value + spread, "primary_pollutant": "pm25"} for s in stations for h in hours]  # fmt: skip

    fstore.write_fit(engine, fit | {"layer": "air_quality"}, rows(range(1, 25), 60.0, 10.0), [])
    fstore.write_fit(engine, fit | {"layer": "aqi_outlook"}, rows(range(25, 73), 160.0, 40.0), [])
    with dash_app.server.test_request_context():
        window = access.history_window()
        # +30 h: an hourly step of the slider, served by the outlook model; parking and traffic hidden
        ahead = access.FORECAST_STEPS + 29
        at = access.forecast_step_at(window.last_bucket, ahead)
        payload, label = command_centre._live_answer(city, "history", window.steps + ahead, None)
        text = _texts(label)
        assert text.startswith("FORECAST") and "+30 h" in text
        assert "Parking: no forecast beyond 1 h (greyed)" in text and "停车：超过 1 小时无预测（灰色显示）" in text
        assert all(v is None for v in payload["parking"]["free"]) and all(v is None for v in payload["traffic"]["ci"])
        assert payload["forecast"]["air_quality"]["served"]
        expected = 160 if floor_bucket(at, 3600) > hour + 86400 else 60
        assert {st["aqi"] for st in payload["air_quality"]["stations"]} == {expected}
        # the outlook beside the banner: three days, HJ 633 names in both languages, the interval's range
        outlook = access.forecast_outlook(city, now)
        days = outlook["days"]
        assert len(days) == 3 and all(d["level"] for d in days[:2])
        assert days[1]["aqi"] == 160 and days[1]["level"]["name_en"] == "Moderately polluted"
        assert (days[1]["low"], days[1]["high"]) == (120, 200) and days[1]["level_low"]["name_zh"] == "轻度污染"
        assert "AQI outlook" in text and "Moderately polluted" in text and "中度污染" in text
        # the OGC items of air quality at +30 h are the outlook's forecast features
        body = dash_app.server.test_client().get(
            f"/api/ogc/collections/air-quality/items?city={city}&datetime={iso(at)}&limit=3"
        )
        assert body.status_code == 200
        features = body.get_json()["features"]
        assert features and all(f["properties"]["forecast"] is True for f in features)
    # a model that lost: its days say so
    fstore.write_fit(engine, fit | {"layer": "aqi_outlook", "served": False, "skill": -0.2}, [], [])
    with dash_app.server.test_request_context():
        lost = access.forecast_outlook(city, now)
        assert lost["models"]["aqi_outlook"]["reason"] == "baseline better" and lost["days"][2]["level"] is None
        from components.forecast_outlook import outlook_panel

        assert "+25–72 h: no forecast: baseline better" in _texts(outlook_panel(lost, 8 * 3600))
