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
    fit = {"city": CITY, "fit_seconds": 1.0, "history_from": now - 7 * 86400, "history_to": origin, "n": 4000,
           "fitted_at": now, "train_rows": 60000, "better": "persistence", "hit_rate": None, "coverage": 0.8,
           "baselines": {"persistence": 38.5, "yesterday": 88.3, "last_week": None}}  # fmt: skip
    fstore.write_fit(
        engine, fit | {"layer": "parking", "model": "hgb-1", "served": True, "mae": 33.0, "skill": 0.1}, values, []
    )
    fstore.write_fit(
        engine, fit | {"layer": "traffic", "model": "hgb-1", "served": False, "mae": 9.0, "skill": -0.1}, [], []
    )


def test_slider_past_now_shows_the_forecast_and_live_restores(served_app, page):
    _write_forecasts()
    _open(page, served_app, ready=MAP_READY)
    label = page.locator("#cc-time-label")
    page.locator("#cc-mode label").filter(has_text="历史").click()
    page.wait_for_function("() => !document.querySelector('#cc-play').disabled", timeout=WAIT_MS)
    thumb = page.locator("#cc-slider [role=slider]")
    now_step = int(thumb.get_attribute("aria-valuenow"))
    assert int(thumb.get_attribute("aria-valuemax")) == now_step + 4  # +1 h in 15-minute steps
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
            m.openPopup(); return m.options.dashArray; }"""
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
