"""The command centre's time slider past now (issue 19), in headless Chromium: the FORECAST banner and
dashed styling, a popup with the 80 % interval, the label naming a layer without a forecast; back to
live restores everything. Forecasts are hand-made rows in the served app's store (what a fit
produces is checked in tests/test_forecast_backtest.py)."""

from __future__ import annotations

import time

from data import store
from data.rules.clock import floor_bucket
from data.store import forecasts as fstore
from tests.conftest import SESSION_DIR
from tests.test_browser import FIRST_LOAD_MS, MAP_READY, WAIT_MS, _no_console_errors, _open

CITY = "hangzhou"


def _fit_record(now: int, origin: int) -> dict:
    return {"city": CITY, "fit_seconds": 1.0, "history_from": now - 7 * 86400, "history_to": origin, "n": 4000,
            "fitted_at": now, "train_rows": 60000, "better": "persistence", "hit_rate": None, "coverage": 0.8,
            "baselines": {"persistence": 38.5, "yesterday": 88.3, "last_week": None}}  # fmt: skip


def _write_forecasts() -> None:
    engine = store.get_engine(f"sqlite:///{SESSION_DIR / 'served' / 'citybrain.sqlite'}")
    now = int(time.time())
    origin = floor_bucket(now)
    lots = store.sensors(engine, "parking", CITY)
    values = [
        {"sensor_id": int(lot.id), "target": origin + k * 900, "origin": origin, "value": float(lot.capacity // 3),
         "low": float(lot.capacity // 3 - 7), "high": float(lot.capacity // 3 + 9), "primary_pollutant": None}
        for lot in lots.itertuples() for k in range(1, 7)  # a bucket may turn during the test
    ]  # fmt: skip
    fit = _fit_record(now, origin)
    fstore.write_fit(
        engine, fit | {"layer": "parking", "model": "hgb-1", "served": True, "mae": 33.0, "skill": 0.1}, values, []
    )
    fstore.write_fit(
        engine, fit | {"layer": "traffic", "model": "hgb-1", "served": False, "mae": 9.0, "skill": -0.1}, [], []
    )


def _history_mode(page, served_app, history: str):
    """The command centre opened, switched to history (by the mode's label in the page's language):
    the time label and the slider's thumb."""
    _open(page, served_app, ready=MAP_READY)
    page.locator("#cc-mode label").filter(has_text=history).click()
    page.wait_for_function("() => !document.querySelector('#cc-play').disabled", timeout=WAIT_MS)
    return page.locator("#cc-time-label"), page.locator("#cc-slider [role=slider]")


def test_slider_past_now_shows_the_forecast_and_live_restores(served_app, page):
    _write_forecasts()
    label, thumb = _history_mode(page, served_app, "历史")
    now_step = int(thumb.get_attribute("aria-valuenow"))
    assert int(thumb.get_attribute("aria-valuemax")) == now_step + 75  # +1 h in 15-minute steps, then hours to +72 h
    thumb.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.body.classList.contains('cb-forecast')", timeout=WAIT_MS)
    page.wait_for_function(
        "() => document.querySelector('#cc-time-label').innerText.startsWith('预测')", timeout=WAIT_MS
    )
    assert "+30 min" in label.inner_text() and "交通：无预测：基准更优" in label.inner_text()
    # the KPI cards: the lots' forecast with its interval, marked; traffic's model lost to its baseline
    page.wait_for_function(
        """() => { const fc = (k) => document.querySelector(`.kpi-card[data-kpi="${k}"] .kpi-forecast`);
            return !fc('free_spaces').hidden && fc('free_spaces').innerText.startsWith('预测 · 80% 区间')
                && fc('congestion_index').innerText === '无预测：基准更优'; }""",
        timeout=FIRST_LOAD_MS,  # the page's first panel refresh (cold 7-day trends) may still be under way
    )
    assert page.locator(".forecast-banner").is_visible()
    banner = page.evaluate("() => getComputedStyle(document.querySelector('.map-panel'), '::after').content")
    assert "FORECAST" in banner
    # dashed styling on the canvas-drawn car parks and roads; the interval in a car park's popup
    style = page.evaluate(
        """() => { const r = window.citybrain.state.registry.parking; const m = r[Object.keys(r)[0]];
            m.fire("click", {latlng: m.getLatLng()}); return m.options.dashArray; }"""
    )
    assert style == "3 3"
    popup = page.locator(".leaflet-popup-content").first
    popup.wait_for(timeout=WAIT_MS)
    assert "80% 区间" in popup.inner_text() and "预测" in popup.inner_text()
    # back to live: no banner, ordinary styling, the live label
    page.locator("#cc-mode label").filter(has_text="实时").click()
    page.wait_for_function("() => !document.body.classList.contains('cb-forecast')", timeout=WAIT_MS)
    page.wait_for_function(
        "() => document.querySelector('#cc-time-label').innerText.startsWith('实时')", timeout=WAIT_MS
    )
    restored = page.evaluate(
        "() => { const r = window.citybrain.state.registry.parking; return r[Object.keys(r)[0]].options.dashArray; }"
    )
    assert restored is None
    page.wait_for_function("() => !document.querySelector('.kpi-card.is-forecast')", timeout=WAIT_MS)
    _no_console_errors(page)


def _write_aqi_forecasts() -> None:
    """Air quality served to +72 h: +1..+24 h by the hourly model, +25..+72 h by the outlook model."""
    engine = store.get_engine(f"sqlite:///{SESSION_DIR / 'served' / 'citybrain.sqlite'}")
    now = int(time.time())
    hour = floor_bucket(now, 3600)
    stations = store.sensors(engine, "air_quality", CITY)["id"].tolist()
    fit = _fit_record(now, hour) | {"model": "ridge-h-1", "served": True, "mae": 15.0, "skill": 0.25, "hit_rate": 0.6}
    for layer, hours, value in (("air_quality", range(1, 26), 80.0), ("aqi_outlook", range(25, 74), 170.0)):
        rows = [{"sensor_id": s, "target": hour + h * 3600, "origin": hour, "value": value, "low": value - 20,
                 "high": value + 30, "primary_pollutant": "pm25"} for s in stations for h in hours]  # fmt: skip
        fstore.write_fit(engine, fit | {"layer": layer}, rows, [])


def test_air_quality_runs_on_to_72_hours_with_the_outlook(served_app, page):
    _write_forecasts()
    _write_aqi_forecasts()
    label, thumb = _history_mode(page, served_app, "History")
    thumb.focus()
    page.keyboard.press("End")  # the slider's last step: +72 h
    page.wait_for_function(
        "() => document.querySelector('#cc-time-label').innerText.includes('+72 h')", timeout=WAIT_MS
    )
    text = label.inner_text()
    assert "FORECAST" in text or "预测" in text
    outlook = page.locator(".forecast-outlook")
    outlook.wait_for(timeout=WAIT_MS)
    assert outlook.is_visible()
    # parking and traffic have no forecast past +1 h: drawn grey (as a sensor without data), and the label says so
    assert "no forecast beyond 1 h (greyed)" in text or "超过 1 小时无预测（灰色显示）" in text
    fills = page.evaluate(
        """() => { const r = window.citybrain.state.registry.parking;
            return [...new Set(Object.keys(r).map((i) => r[i].options.fillColor))]; }"""
    )
    assert fills == ["#9e9e9e"]
    # air quality's stations show the outlook model's AQI (170, moderately polluted) at +72 h
    page.wait_for_function(
        "() => [...document.querySelectorAll('.cb-aqi')].some((e) => e.innerText.trim() === '170')", timeout=WAIT_MS
    )
    page.screenshot(path="/tmp/forecast_72h.png")
    _no_console_errors(page)
