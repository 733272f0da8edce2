"""The Model quality page (/model-quality): backtest table, skill over time, forecast against actual.

Fits are written straight into the session's store (hand-made records): the page only reads them,
and what a fit contains is checked in tests/test_forecast_backtest.py.
"""

from __future__ import annotations

import time

import pytest

from data import store
from data.rules.clock import floor_bucket
from data.store import forecasts as fstore
from tests.test_callbacks import _texts

CITY = "shenzhen"


@pytest.fixture(scope="module")
def fits(dash_app):
    engine = store.get_engine()
    now = int(time.time())
    lots = store.sensors(engine, "parking", CITY)["id"].head(3).tolist()
    base = {"city": CITY, "fit_seconds": 1.5, "history_from": now - 7 * 86400, "history_to": now, "n": 4000}
    track = [
        {"sensor_id": lot, "target": floor_bucket(now) - k * 900, "origin": floor_bucket(now) - k * 900 - 3600,
         "value": 100.0 + k, "low": 90.0 + k, "high": 110.0 + k}
        for lot in lots for k in range(8)
    ]  # fmt: skip
    fstore.write_fit(
        engine,
        base | {"layer": "parking", "model": "hgb-1", "fitted_at": now - 60, "train_rows": 60000, "served": True,
                "mae": 33.4, "better": "persistence", "skill": 0.132, "hit_rate": None, "coverage": 0.78,
                "baselines": {"persistence": 38.5, "yesterday": 88.3, "last_week": None}},
        [],
        track,
    )  # fmt: skip
    fstore.write_fit(
        engine,
        base | {"layer": "air_quality", "model": "ridge-h-1", "fitted_at": now - 60, "train_rows": 0, "served": False,
                "mae": 14.2, "better": "persistence", "skill": -0.017, "hit_rate": 0.58, "coverage": 0.14,
                "baselines": {"persistence": 14.0, "yesterday": 25.3, "last_week": None}},
        [],
        [],
    )  # fmt: skip
    return lots


def test_backtest_table_and_skill_chart(dash_app, fits):
    from pages import model_quality

    with dash_app.server.test_request_context():
        table, skill, outlook = model_quality.refresh(1, CITY)
    text = _texts(table)
    assert "hgb-1" in text and "33.4" in text and "38.5" in text and "0.132" in text and "Served" in text
    assert "ridge-h-1" in text and "No forecast: baseline better" in text and "无预测：基准更优" in text
    assert "58 %" in text  # the AQI level hit rate, shown for air quality only
    assert skill.children.figure.data[0].y == (0.132,)
    # the outlook: no AQI forecast served for this city, so each day says so, and the outlook model's hit rate
    assert "AQI outlook" in _texts(outlook) and _texts(outlook).count("no forecast") >= 3
    assert "Model quality" in _texts(model_quality.layout(city=CITY))


def test_forecast_against_actual_for_one_sensor(dash_app, fits):
    from pages import model_quality

    with dash_app.server.test_request_context():
        options, first = model_quality.sensors("parking", CITY)
        assert [o["value"] for o in options] == sorted(fits) and first == min(fits)
        chart = model_quality.track(first, 1, "parking", CITY)
        figure = chart.children[1].figure
        names = [trace.name for trace in figure.data]
        assert "forecast made 1 h before" in names and "observed" in names and "80 % interval" in names
        forecast = figure.data[names.index("forecast made 1 h before")]
        assert list(forecast.y) == [100.0 + k for k in range(7, -1, -1)]
        assert len(figure.data[names.index("observed")].y) > 100  # 36 hours of 15-minute observations
        # what a client sends is bounded: unknown layers, non-integer sensors, untracked sensors
        assert "Choose a sensor" in _texts(model_quality.track("1; DROP", 1, "parking", CITY))
        assert "Choose a sensor" in _texts(model_quality.track(first, 1, "incidents", CITY))
        assert "No forecast tracked" in _texts(model_quality.track(-5, 1, "parking", CITY))
        assert model_quality.sensors("bogus", CITY) == ([], None)


def test_the_page_is_for_operators(dash_app, anon_client):
    from tests.conftest import signed_in_client

    assert anon_client.get("/model-quality").status_code in (302, 303)
    viewer = signed_in_client(dash_app, "viewer").get("/model-quality")
    operator = signed_in_client(dash_app, "operator").get("/model-quality")
    assert operator.status_code == 200 and viewer.status_code in (302, 303, 403)
