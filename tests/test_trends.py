"""Trends beside the KPIs: 24 h sparklines under the cards and a 7-day chart panel, from one cached read."""

from __future__ import annotations

import json
import time
from datetime import datetime

import numpy as np
import pytest
from plotly.utils import PlotlyJSONEncoder

from components.trend import _path, spark_paths
from data import access, trends
from data.rules.clock import BUCKET_SECONDS as B
from data.rules.clock import DAY, floor_bucket
from tests.conftest import ARTIFACTS
from tests.test_browser import FIRST_LOAD_MS, READY, WAIT_MS


def test_trends_end_on_the_cards_values_and_cover_7_days(dash_app):
    at = floor_bucket(time.time()) - 2 * B  # a bucket start: the cards and the grid agree exactly there
    with dash_app.server.app_context():
        found = access.kpi_trends("hangzhou", at)
        cards = {k.key: k.value for k in access.kpis("hangzhou", at)}
    assert found["t"][-1] == at and found["t"][0] == at - 7 * DAY + B and len(found["t"]) == 7 * 96
    assert set(found["series"]) == set(cards) == set(trends.KEYS)
    for key, series in found["series"].items():
        assert len(series) == len(found["t"])
        assert series[-1] == cards[key], key
        assert sum(v is not None for v in series) > 6 * 96, key  # Hangzhou has 7 days of history
    assert sum(found["breakdown"]["open_incidents"].values()) == cards["open_incidents"]
    assert found["breakdown"]["congestion_index"] and found["breakdown"]["city_aqi"]
    assert [t["value"] for t in found["thresholds"]["city_aqi"]] == [150, 200.0]


def test_one_store_read_serves_every_refresh_within_a_bucket(dash_app, monkeypatch):
    """Sparklines and chart share one cached read: a second call in the same bucket reads nothing."""
    from data import store

    calls = []
    real = store.trend_rows
    monkeypatch.setattr(store, "trend_rows", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    at = floor_bucket(time.time()) - 5 * B
    with dash_app.server.app_context():
        access.kpi_trends("guangzhou", at)
        first = len(calls)
        access.kpi_trends("guangzhou", at + 60)
        access.kpi_trends("guangzhou", at + B - 1)
    assert first >= 4 and len(calls) == first  # one read per layer (a day at a time), then none
    assert set(calls) == {"traffic", "parking", "air_quality", "incidents"}


def test_incident_series_counts_open_today_and_median():
    day0 = 1_700_000_000 // DAY * DAY - 8 * 3600  # a local (CST) midnight
    buckets = trends.grid(day0 + DAY, days=1)
    import pandas as pd

    frame = pd.DataFrame(
        {
            "reported_at": [day0 - 3600, day0 + 100, day0 + 200, day0 + 50_000],
            "dispatched_at": [day0 - 3000, day0 + 160, day0 + 500, None],
            "resolved_at": [None, day0 + 1000, None, None],
            "closed_at": [None, day0 + 1000, None, None],
            "district": ["A", "A", "B", "B"],
        }
    )
    series, by_district = trends.incidents(frame, buckets)
    at = {int(b): k for k, b in enumerate(buckets)}
    k = at[day0 + 900]
    assert series["open_incidents"][k] == 3 and series["incidents_today"][k] == 2
    assert series["median_dispatch"][k] == 180  # (60 + 300) / 2: reported today, dispatched by then
    assert series["open_incidents"][k + 1] == 2  # the second was resolved at 1000
    assert series["open_incidents"][-1] == 3 and series["incidents_today"][-1] == 0  # a new day
    assert series["median_dispatch"][-1] is None
    assert by_district["open_incidents"] == {"A": 1, "B": 2}


def test_station_aqi_of_a_week_of_rows_is_the_standards_row_by_row():
    """The vectorised per-row AQI of the trends equals hourly_aqi (HJ 633-2012) of each row, at the
    breakpoints, between them, above the tables' tops, with gaps and with nothing measured."""
    import pandas as pd

    from data.rules import aqi as aqi_rules

    rng = np.random.default_rng(7)
    n = 600
    edges = [0.0, 35, 35.1, 75, 115, 150, 250, 350, 500, 800, 800.1, 1000.5]  # breakpoints and above the tops
    frame = pd.DataFrame({"bucket": np.arange(n) // 6 * 3600, "station_id": np.arange(n) % 6})
    for p in aqi_rules.POLLUTANTS:
        values = np.concatenate([edges, np.round(rng.uniform(0, 260, n - len(edges)), 1)])
        values[rng.uniform(size=n) < 0.2] = np.nan
        frame[p] = rng.permutation(values)
    frame.loc[5, list(aqi_rules.POLLUTANTS)] = np.nan  # a station that measured nothing that hour
    expected = [trends._aqi(row) for row in frame.to_dict("records")]
    found = trends._row_aqi(frame)
    assert np.isnan(found[5]) and np.isnan(expected[5])
    assert np.array_equal(found, np.array(expected, dtype=float), equal_nan=True)
    assert len(set(found[~np.isnan(found)])) > 50  # the rows span the table, not one level


def test_local_day_starts_agree_with_the_clock():
    from data.rules.clock import local_day_start

    times = np.arange(1_700_000_000, 1_700_000_000 + 3 * DAY, 617, dtype=float)
    assert trends._local_day_starts(times).tolist() == [float(local_day_start(t)) for t in times]


def test_sparkline_draws_both_days_and_breaks_on_gaps():
    assert "M0.0" in _path([1, 2, None, 3], 1, 3) and _path([1, 2, None, 3], 1, 3).count("M") == 2
    assert spark_paths([1, 2, 3], [3, 2, 1])["today"].startswith("M0.0 23.0L")
    assert spark_paths([None], [None]) is None
    assert spark_paths([1, 2], [None, None])["yesterday"] is None
    assert trends.sparkline(list(range(300)), 999) == ([*range(204, 299), 999], list(range(108, 204)))


def _card_click(key: str) -> dict:
    """What the browser sends when a card is clicked: citybrain.js writes {key, n} into cc-kpi-pick."""
    return {
        "output": "cc-trend-key.data",
        "outputs": {"id": "cc-trend-key", "property": "data"},
        "inputs": [
            {"id": "cc-kpi-pick", "property": "data", "value": {"key": key, "n": 1}},
            {"id": "cc-trend-close", "property": "n_clicks", "value": None},
        ],
        "state": [{"id": "cc-trend-key", "property": "data", "value": None}],
        "changedPropIds": ["cc-kpi-pick.data"],
    }


def test_a_card_click_chooses_its_chart_and_the_panel_draws_it(dash_app, client):
    answer = client.post("/_dash-update-component", json=_card_click("city_aqi"))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["response"]["cc-trend-key"]["data"] == "city_aqi"
    from pages import command_centre as cc

    with dash_app.server.test_request_context():
        hidden, body = cc.show_trend("city_aqi", "en", "dark", "hangzhou", "live", 0)
        closed = cc.show_trend(None, "en", "dark", "hangzhou", "live", 0)
        zh = cc.show_trend("city_aqi", "zh", "light", "hangzhou", "live", 0)[1]
    assert hidden is False and closed == (True, [])
    graphs = [c for c in body if getattr(c, "figure", None) is not None]
    week, districts = graphs[0].figure, graphs[1].figure
    x = week.data[0].x
    span_days = (max(x) - min(x)) / np.timedelta64(1, "D")
    assert span_days == pytest.approx(7 - 1 / 96, abs=1e-6)
    assert [s.y0 for s in week.layout.shapes] == [150, 200.0]  # the alert thresholds
    assert week.layout.font.color == "#e6edf3" and week.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert len(districts.data[0].y) >= 10  # Hangzhou's stations
    assert "阈值" in json.dumps(zh[-1], cls=PlotlyJSONEncoder, ensure_ascii=False)
    assert zh[1].figure.layout.font.color == "#1b1f24"
    assert "开单规则" in zh[1].figure.to_json()
    # Only a whole KPI key is taken from what the browser wrote: anything else chooses nothing.
    for bad in ({"key": "nope", "n": 2}, "city_aqi", {"key": ["city_aqi"]}, {"key": "city_aqi" * 20_000}, None):
        request = _card_click("city_aqi")
        request["inputs"][0]["value"] = bad
        answer = client.post("/_dash-update-component", json=request)
        assert answer.status_code in (200, 204) and "cc-trend-key" not in answer.get_data(as_text=True), bad


def test_kpi_click_opens_its_chart_with_7_days(served_app, page):
    page.goto(served_app + "/?city=hangzhou")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.wait_for_selector(".kpi-card .kpi-spark .spark-today", timeout=WAIT_MS)
    # (attached: a flat line's path has no height, which Playwright calls invisible)
    page.wait_for_selector(".kpi-card .spark-today svg path[d^='M']", state="attached", timeout=WAIT_MS)
    assert page.locator(".kpi-card .spark-yesterday:not([hidden])").count() >= 6
    page.locator(".kpi-card").first.click()
    page.wait_for_function(  # the first chart of a page loads plotly.js (3.5 MB) on demand: slow on a busy machine
        "() => { const g = document.querySelector('#cc-trend-chart .js-plotly-plot'); return g && g.data; }",
        timeout=FIRST_LOAD_MS,
    )
    x = page.evaluate("() => document.querySelector('#cc-trend-chart .js-plotly-plot').data[0].x")
    y = page.evaluate("() => document.querySelector('#cc-trend-chart .js-plotly-plot').data[0].y")
    first, last = (datetime.fromisoformat(str(v).replace(" ", "T")) for v in (x[0], x[-1]))
    assert (last - first).total_seconds() >= 6.98 * 86400 and sum(v is not None for v in y) > 6 * 96
    assert page.locator("#cc-trend-districts .js-plotly-plot .bars path").count() >= 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "trend_panel_light.png"))
    page.locator("#cc-trend-close").click()
    page.wait_for_selector("#cc-trend-panel", state="hidden", timeout=WAIT_MS)
    assert page.console_errors == [], page.console_errors


# A card as assets/citybrain.js `applyCard` reads it, its sparkline changed on every refresh.
SPARK_REFRESHES_JS = """(n) => {
    for (let k = 0; k < n; k++) {
        const today = "M0.0 " + (k % 23) + ".0L96.0 " + (23 - k % 23) + ".0";
        const spark = {today: today, yesterday: "M0.0 12.0L96.0 " + (k % 7) + ".0"};
        window.citybrain.applyPanels("cc", {cards: [{key: "city_aqi", value: String(k), main: "kpi-main", detail: "",
            fc: null, change: null, trend: "kpi-flat", age: ["now", "刚刚"], stale: false, spark: spark}]}, null);
    }
    return document.querySelector('.kpi-card[data-kpi="city_aqi"] .spark-today path').getAttribute("d");
}"""


def test_sparkline_refreshes_leave_no_documents_or_nodes_behind(served_app, page):
    """The 30-minute soak's growth (issue 17): each changed sparkline was a new CSS mask image (a data:
    URL, one SVG document each) that the browser kept. Now a refresh rewrites one path in place."""
    page.goto(served_app + "/?city=hangzhou")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.wait_for_selector('.kpi-card[data-kpi="city_aqi"]', state="attached", timeout=WAIT_MS)
    page.evaluate(SPARK_REFRESHES_JS, 3)  # the first apply of a line makes its <svg>
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def counts() -> tuple[float, float]:
        cdp.send("HeapProfiler.collectGarbage")
        m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
        return m["Documents"], m["Nodes"]

    documents, nodes = counts()
    assert page.evaluate(SPARK_REFRESHES_JS, 40) == "M0.0 16.0L96.0 7.0"
    documents_after, nodes_after = counts()
    assert documents_after <= documents
    assert nodes_after <= nodes + 10  # the live refreshes meanwhile (time label, an incident or two)
    assert page.locator('.kpi-card[data-kpi="city_aqi"] .spark-today svg').count() == 1
