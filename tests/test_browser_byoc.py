"""SIMULATE=none end to end in headless Chromium (issue 18): the map starts empty and says so, a feed is
replayed with sensors the store has never seen (`python -m cli.replay --new-sensors`), and they
appear on the map and in the KPIs within a refresh, without reloading the page; "show on map" in the
registry focuses one; a public embed opened on the empty city draws them too."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, SESSION_DIR, _copy_store, running_app

WAIT_MS = 30_000
KPI_VALUE = """(label) => {
    const card = [...document.querySelectorAll('.kpi-card')].find((c) => c.innerText.includes(label));
    return card ? card.querySelector('.kpi-value').innerText : null;
}"""
# What a map's script has drawn: refreshes applied and features on the map per sensor layer. The
# operator map's state is window.citybrain.state, the embed's window.cbembed.state (same registry shape).
DRAWN = """() => {
    const s = window.NAMESPACE && window.NAMESPACE.state;
    if (!s || !s.map) { return null; }
    const count = (name) => Object.values(s.registry[name] || {}).filter((l) => s.map.hasLayer(l)).length;
    return {refreshes: s.refreshes, roads: count('traffic'), lots: count('parking'), stations: count('air_quality')};
}"""
ON_MAP = DRAWN.replace("NAMESPACE", "citybrain")
EMBED_ON_MAP = DRAWN.replace("NAMESPACE", "cbembed")


@pytest.fixture(scope="module")
def empty_city_app(prepared):
    """The app on a copy of the prepared store with SIMULATE=none: every sensor there is simulated."""
    data_dir = SESSION_DIR / "byoc"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {
        "DATA_DIR": str(data_dir),
        "SIMULATE": "none",
        "SIMULATE_LIVE": "1",
        "REFRESH_SECONDS": "2",
        "LOGIN_RATE_LIMIT": "600/minute",
    }
    with running_app(env, SESSION_DIR / "byoc.log", 90) as base:
        yield base


def test_simulate_none_starts_empty_and_replayed_sensors_appear(empty_city_app, page):
    from cli import replay

    base = empty_city_app
    assert page.context.request.post(base + "/login", form={"name": "operator", "password": PASSWORD}).ok
    page.goto(base + "/?city=xiongan")
    page.wait_for_function(f"() => ({ON_MAP})() && ({ON_MAP})().refreshes >= 1", timeout=90_000)
    note = page.locator("#cc-map-empty")
    note.wait_for(state="visible", timeout=WAIT_MS)
    assert "暂无传感器：请接入数据源" in note.inner_text()
    assert page.locator(".sim-badge").count() == 0  # nothing is simulated: the header says nothing of it
    assert page.evaluate(ON_MAP) | {"refreshes": 0} == {"refreshes": 0, "roads": 0, "lots": 0, "stations": 0}
    page.wait_for_function(f"() => ({KPI_VALUE})('停车占用率') === '—'", timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "byoc_empty.png"))

    args = ["--rate", "30", "--count", "6", "--new-sensors", "2", "--url", base, "--key", "test-key-1"]
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/geo/xiongan/parking" in r.url else None)
    assert replay.main([*args, "--city", "xiongan"]) == 0

    page.wait_for_function(
        f"() => {{ const s = ({ON_MAP})(); return s.roads === 2 && s.stations === 2; }}", timeout=WAIT_MS
    )
    # Car parks are grouped below zoom 15 (components/map_layers.py): count the ones drawn alone and those
    # inside a car-park group (its label is how many it holds).
    lots_drawn = f"""() => ({ON_MAP})().lots + [...document.querySelectorAll('.cb-cluster span')]
        .reduce((n, s) => n + Number(s.textContent), 0)"""
    page.wait_for_function(f"() => ({lots_drawn})() === 2", timeout=WAIT_MS)
    note.wait_for(state="hidden", timeout=WAIT_MS)
    page.wait_for_function(f"() => !['—', null].includes(({KPI_VALUE})('停车占用率'))", timeout=WAIT_MS)
    assert page.evaluate(KPI_VALUE, "全市 AQI") != "—"
    assert "仅来自数据接入与导入" in page.locator(".data-note").inner_text()
    assert fetched  # the geometry, fetched again for its new version (the page was not reloaded)
    page.screenshot(path=str(ARTIFACTS / "byoc_replayed.png"))
    # The registry lists them by source (the operator may look; retiring is for administrators).
    page.goto(base + "/sensors?city=xiongan")
    page.wait_for_selector("text=replay-xiongan-0001", timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "byoc_sensors.png"), full_page=True)
    # "Show on map" opens the command centre at street zoom on that sensor.
    row = page.locator(".ag-row", has_text="AirQualityObserved:replay-xiongan-0001").first
    href = row.locator("a").first.get_attribute("href")
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/\?city=xiongan&z=17&lat="), timeout=WAIT_MS)
    view = """() => { const s = window.citybrain && window.citybrain.state;
        return s && s.map ? [s.map.getZoom(), s.map.getCenter().lat, s.map.getCenter().lng] : null; }"""
    page.wait_for_function(f"() => ({view})() && ({view})()[0] === 17", timeout=WAIT_MS)
    _zoom, lat, lon = page.evaluate(view)
    wanted = dict(part.split("=") for part in href.split("?", 1)[1].split("&"))
    assert (lat, lon) == pytest.approx((float(wanted["lat"]), float(wanted["lon"])), abs=1e-4)
    assert page.console_errors == [], page.console_errors


def test_an_embed_opened_on_an_empty_city_shows_the_sensors_a_feed_registers(empty_city_app, page):
    """The public embed starts empty without error and draws new sensors within a refresh, no reload."""
    from cli import replay

    base = empty_city_app
    page.goto(base + "/embed/map?city=beijing&lang=en")
    page.wait_for_function(f"() => ({EMBED_ON_MAP})() && ({EMBED_ON_MAP})().refreshes >= 1", timeout=90_000)
    assert page.evaluate(EMBED_ON_MAP) | {"refreshes": 0} == {"refreshes": 0, "roads": 0, "lots": 0, "stations": 0}
    page.screenshot(path=str(ARTIFACTS / "byoc_embed_empty.png"))
    args = ["--rate", "30", "--count", "6", "--new-sensors", "2", "--url", base, "--key", "test-key-1"]
    assert replay.main([*args, "--city", "beijing"]) == 0
    page.wait_for_function(
        f"() => {{ const s = ({EMBED_ON_MAP})(); return s.roads === 2 && s.lots === 2 && s.stations === 2; }}",
        timeout=WAIT_MS,
    )
    page.screenshot(path=str(ARTIFACTS / "byoc_embed_fed.png"))
    assert page.console_errors == [], page.console_errors
