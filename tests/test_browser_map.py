"""The operator map at city scale, in headless Chromium at 1600×1000 (issue 17): incidents grouped by
default and split on zoom-in, filters that change what is drawn and come back from the address, the
legend on the map, the history tooltip, and screenshots of / and /embed/map."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, SESSION_DIR, _copy_store, running_app
from tests.test_browser import MAP_READY, MAP_SETTLED

WAIT_MS = 20_000

# What the incident layer draws right now: groups (their counts, their worst member's severity against
# their rank class), single markers, and the open incidents in the drawn area that pass the filters.
DRAWN = """() => {
    const s = window.citybrain.state, m = s.map, view = s.drawnView, f = s.filter;  // the area last drawn
    const passes = (r) => (!f.kind.length || f.kind.includes(r.kind)) && f.sev.includes(r.sev)
        && f.status.includes(r.status) && (!f.act || r.status === 'new' || r.breach || r.sev >= 3);
    const groups = [...s.drawn.values()].filter((l) => l._cbMembers && m.hasLayer(l));
    const dom = [...document.querySelectorAll('.leaflet-marker-pane .cb-incident-cluster')];
    const rows = Object.values(s.incidentMarkers).map((mk) => mk._cbRow);
    return {
        zoom: m.getZoom(),
        clusters: dom.length,
        inClusters: dom.reduce((n, e) => n + Number(e.querySelector('span').textContent), 0),
        single: document.querySelectorAll('.leaflet-marker-pane .cb-incident').length,
        wrongColour: groups.filter((g) => !g.getElement().classList.contains(
            'cb-rank-' + Math.max(...g._cbMembers.map((x) => x._cbRow.sev)))).length,
        density: s.incidentDrawn.density,
        open: s.incidentCount,
        expected: Object.values(s.incidentMarkers).filter((mk) => view.contains(mk.getLatLng())
            && passes(mk._cbRow)).length,
        drawnRows: [...s.drawn.values()].flatMap((l) => l._cbMembers || (l._cbRow ? [l] : []))
            .map((x) => x._cbRow),
        sevs: [...new Set(rows.map((r) => r.sev))],
    };
}"""
FIT_ALL = """() => {
    const s = window.citybrain.state;
    const bounds = L.latLngBounds(Object.values(s.incidentMarkers).map((m) => m.getLatLng()));
    s.map.fitBounds(bounds, {animate: false});
}"""
# Every @keyframes rule of the page's own stylesheets animates only transform and opacity.
KEYFRAME_PROPERTIES = """() => {
    const props = new Set();
    for (const sheet of document.styleSheets) {
        let rules;
        try { rules = sheet.cssRules; } catch (e) { continue; }
        for (const rule of rules) {
            if (rule.type !== CSSRule.KEYFRAMES_RULE) { continue; }
            for (const frame of rule.cssRules) {
                for (let i = 0; i < frame.style.length; i++) { props.add(rule.name + ':' + frame.style[i]); }
            }
        }
    }
    return [...props];
}"""


@pytest.fixture(scope="module")
def map_app(prepared):
    """The app at default settings (incident groups on by default), no live simulator: stable counts."""
    data_dir = SESSION_DIR / "opmap"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {"DATA_DIR": str(data_dir), "SIMULATE_LIVE": "0", "REFRESH_SECONDS": "2"}
    with running_app(env, SESSION_DIR / "opmap.log", 90) as base:
        yield base


@pytest.fixture()
def op_page(map_app, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    assert context.request.post(map_app + "/login", form={"name": "operator", "password": PASSWORD}).ok
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()


def _ready(page) -> None:
    page.wait_for_function(f"() => ({MAP_READY})() && !!window.citybrain.state.incidentDrawn", timeout=90_000)
    page.evaluate(MAP_SETTLED)


def _query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def test_groups_count_every_open_incident_once_and_split_on_zoom_in(op_page, map_app):
    page = op_page
    page.goto(map_app + "/?city=hangzhou")
    _ready(page)
    opened = page.evaluate(DRAWN)
    assert opened["clusters"] > 0, opened  # grouped by default at the city zoom it opens at
    page.evaluate(FIT_ALL)
    page.evaluate(MAP_SETTLED)
    far = page.evaluate(DRAWN)
    assert far["expected"] == far["open"] > 2, far  # every open incident is in the drawn area
    assert far["inClusters"] + far["single"] == far["open"], far  # each counted exactly once
    assert far["clusters"] > 0 and far["clusters"] + far["single"] < far["open"], far
    assert far["wrongColour"] == 0, far  # a group takes its worst severity's colour
    ids = [r["id"] for r in far["drawnRows"]]
    assert len(ids) == len(set(ids)) == far["open"], far

    # Stations stay above incident groups; car-park groups below them.
    z = page.evaluate(
        """() => { const z = (sel) => [...document.querySelectorAll(sel)].map((e) => Number(e.style.zIndex));
                   return {aqi: Math.min(...z('.cb-aqi')), groups: Math.max(...z('.cb-incident-cluster')),
                           lots: Math.max(-1e9, ...z('.marker-cluster.cb-cluster'))}; }"""
    )
    assert z["aqi"] > z["groups"] > z["lots"], z

    # Only what needs an operator pulses, and the pulse animates transform and opacity only.
    pulsing = page.evaluate(
        """() => Object.values(window.citybrain.state.incidentMarkers).filter((m) => m.getElement()).map((m) => ({
            needs: m._cbRow.status === 'new' || m._cbRow.breach || m._cbRow.sev >= 3,
            anim: getComputedStyle(m.getElement(), '::after').animationName}))"""
    )
    assert all((p["anim"] == "cb-pulse") == p["needs"] for p in pulsing), pulsing
    animated = page.evaluate(KEYFRAME_PROPERTIES)
    assert "cb-pulse:transform" in animated and {a.split(":")[1] for a in animated} <= {"transform", "opacity"}, (
        animated
    )

    # Clicking a group zooms to its incidents; at street zoom every incident is its own marker.
    page.locator(".leaflet-marker-pane .cb-incident-cluster").first.dispatch_event("click")
    page.wait_for_function(f"() => window.citybrain.state.map.getZoom() > {far['zoom']}", timeout=WAIT_MS)
    page.evaluate(MAP_SETTLED)
    page.evaluate(
        "() => { const s = window.citybrain.state, m = Object.values(s.incidentMarkers)[0];"
        " s.map.setView(m.getLatLng(), 16, {animate: false}); }"
    )
    page.evaluate(MAP_SETTLED)
    near = page.evaluate(DRAWN)
    assert near["clusters"] == 0 and near["single"] == near["expected"] >= 1, near
    assert page.console_errors == [], page.console_errors


def test_filters_change_what_is_drawn_and_survive_reload(op_page, map_app):
    page = op_page
    page.goto(map_app + "/?city=hangzhou")
    _ready(page)
    page.evaluate(FIT_ALL)
    page.evaluate(MAP_SETTLED)
    before = page.evaluate(DRAWN)
    assert before["inClusters"] + before["single"] == before["expected"] == before["open"], before
    assert {1, 2} & set(before["sevs"]), before  # something for the filter to hide

    page.click("#cc-filters summary")
    for name in ("低", "中"):  # severities 1 and 2 off
        page.locator("#cc-f-sev label").filter(has_text=name).click()
    page.locator("#cc-f-flags label").filter(has_text="待处置").click()
    page.wait_for_function("() => /sev=3,4/.test(location.search) && /act=act/.test(location.search)", timeout=WAIT_MS)
    page.evaluate(MAP_SETTLED)
    filtered = page.evaluate(DRAWN)
    assert filtered["inClusters"] + filtered["single"] == filtered["expected"] < before["expected"], filtered
    assert filtered["drawnRows"] and all(r["sev"] >= 3 for r in filtered["drawnRows"]), filtered

    # A moved view is written to the address too.
    page.evaluate("() => { window.citybrain.state.map.setView([30.27, 120.15], 13, {animate: false}); }")
    page.wait_for_function("() => /[?&]z=13&/.test(location.search)", timeout=WAIT_MS)
    query = _query(page)
    assert query["city"] == "hangzhou" and query["sev"] == "3,4" and query["act"] == "act", query
    assert float(query["lat"]) == pytest.approx(30.27, abs=1e-4) and float(query["lon"]) == pytest.approx(
        120.15, abs=1e-4
    )
    moved = page.evaluate(DRAWN)

    page.reload()
    _ready(page)
    restored = page.evaluate(DRAWN)
    view = page.evaluate("() => { const c = window.citybrain.state.map.getCenter(); return [c.lat, c.lng]; }")
    assert restored["zoom"] == 13 and view == pytest.approx([30.27, 120.15], abs=1e-4), (restored, view)
    checked = page.locator("#cc-f-sev input:checked").evaluate_all("els => els.map(e => e.value)")
    assert checked == ["3", "4"]
    assert page.locator("#cc-f-flags input[value=act]").is_checked()
    assert restored["inClusters"] + restored["single"] == restored["expected"] == moved["expected"], restored
    assert all(r["sev"] >= 3 for r in restored["drawnRows"]), restored

    # The density view replaces markers with canvas cells holding the same incidents; kept in the address.
    page.evaluate("() => { window.citybrain.state.map.setZoom(11, {animate: false}); }")
    page.locator("#cc-f-view label").filter(has_text="密度").click()
    page.wait_for_function("() => /view=density/.test(location.search)", timeout=WAIT_MS)
    dense = page.evaluate(DRAWN)
    assert dense["clusters"] == 0 and dense["single"] == 0 and dense["density"] == dense["expected"] > 0, dense
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-density.png"))
    assert page.console_errors == [], page.console_errors


def test_history_tooltip_shows_the_time_of_its_step(op_page, map_app):
    page = op_page
    page.goto(map_app + "/?city=hangzhou")
    _ready(page)
    page.locator("#cc-mode label").filter(has_text="历史").click()
    page.wait_for_function("() => !document.querySelector('#cc-play').disabled", timeout=WAIT_MS)
    thumb = page.locator("#cc-slider [role=slider]")
    thumb.hover()
    thumb.focus()
    for _ in range(2):
        page.keyboard.press("PageDown")
    step = thumb.get_attribute("aria-valuenow")
    tooltip = page.locator("[id*='tooltip'][id$='content']").first
    tooltip.wait_for(state="attached", timeout=WAIT_MS)
    shown = tooltip.inner_text().strip()
    assert re.fullmatch(r"\d{2}-\d{2} \d{2}:\d{2}", shown), (shown, step)
    # the time label reaches the same moment once the map has refreshed for it
    page.wait_for_function(
        f"() => document.querySelector('#cc-time-label').innerText.includes({shown!r})", timeout=WAIT_MS
    )


@pytest.mark.parametrize("path", ["/?city=beijing", "/embed/map?city=shanghai"])
def test_legend_on_the_map_shows_all_four_layers(op_page, map_app, path):
    page = op_page
    page.goto(map_app + path)
    embed = path.startswith("/embed")
    if embed:
        page.wait_for_function("() => window.cbembed && window.cbembed.state.refreshes >= 1", timeout=90_000)
    else:
        _ready(page)
    legend = page.locator("#em-legend" if embed else "#cc-legend")
    assert legend.evaluate("e => e.open")
    box, frame = legend.bounding_box(), page.locator(".em-map" if embed else "#cc-map").bounding_box()
    # on the map, and whole on a 1600×1000 screen without scrolling
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"], (box, frame)
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= min(1000, frame["y"] + frame["height"]), (box, frame)
    assert legend.evaluate("e => e.scrollHeight <= e.clientHeight + 1"), "the legend scrolls"
    titles = legend.locator(".em-legend-title" if embed else ".legend-title").all_inner_texts()
    assert len([t for t in titles if t.strip()]) == 4, titles
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / ("map-embed.png" if embed else "map-operator.png")))
    if not embed:  # the density view's colour ramp has its row
        ramp = legend.locator(".legend-ramp")
        assert ramp.count() == 1 and "linear-gradient" in ramp.evaluate("e => e.style.background")
    legend.locator("summary").click()  # collapsible, and it stays as the person left it
    assert not legend.evaluate("e => e.open")
    page.reload()
    if embed:
        page.wait_for_function("() => window.cbembed && window.cbembed.state.refreshes >= 1", timeout=90_000)
    else:
        _ready(page)
    assert not legend.evaluate("e => e.open"), "the folded legend opened again after a reload"
    assert page.console_errors == [], page.console_errors
