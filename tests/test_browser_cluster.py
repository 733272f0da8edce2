"""Incident clustering as an operator sees it in headless Chromium (on by default at SIM_SCALE=shanghai;
here forced on with INCIDENT_CLUSTER=1 for Hangzhou's default data, so no megacity store is built)."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, SESSION_DIR, _copy_store, running_app
from tests.test_browser import MAP_READY, MAP_SETTLED

# Incident markers in the marker pane: cluster icons (with their counts) and single incidents, and how
# many open incidents lie inside the current view (padded by 20 %, as assets/citybrain.js draws them).
INCIDENTS_SHOWN = """() => {
    const s = window.citybrain.state, m = s.map, view = m.getBounds().pad(0.2);
    const clusters = [...document.querySelectorAll('.leaflet-marker-pane .cb-incident-cluster')];
    return {
        zoom: m.getZoom(),
        clusters: clusters.length,
        inClusters: clusters.reduce((n, e) => n + Number(e.textContent.trim()), 0),
        single: document.querySelectorAll('.leaflet-marker-pane .cb-incident').length,
        inView: Object.values(s.incidentMarkers).filter((mk) => view.contains(mk.getLatLng())).length,
        open: s.incidentCount,
    };
}"""


@pytest.fixture(scope="module")
def clustered_app(prepared):
    data_dir = SESSION_DIR / "clustered"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    env = {"DATA_DIR": str(data_dir), "SIMULATE_LIVE": "0", "REFRESH_SECONDS": "2", "INCIDENT_CLUSTER": "1"}
    with running_app(env, SESSION_DIR / "clustered.log", 90) as base:
        yield base


def test_incidents_cluster_zoomed_out_and_split_zoomed_in(clustered_app, browser):
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    assert context.request.post(clustered_app + "/login", form={"name": "operator", "password": PASSWORD}).ok
    page = context.new_page()
    try:
        page.goto(clustered_app + "/?city=hangzhou")
        page.wait_for_function(MAP_READY, timeout=90_000)
        page.evaluate("() => { window.citybrain.state.map.setZoom(9, {animate: false}); }")
        page.evaluate(MAP_SETTLED)
        far = page.evaluate(INCIDENTS_SHOWN)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "incidents-clustered.png"))
        assert far["open"] >= 2 and far["clusters"] > 0, far
        # every open incident in view is drawn once: inside a cluster's count or as its own marker
        assert far["inClusters"] + far["single"] == far["inView"], far
        assert far["clusters"] + far["single"] < far["inView"], far  # fewer markers than incidents

        # Clicking a cluster zooms to its incidents.
        page.locator(".leaflet-marker-pane .cb-incident-cluster").first.dispatch_event("click")
        page.wait_for_function(f"() => window.citybrain.state.map.getZoom() > {far['zoom']}", timeout=10_000)
        page.evaluate(MAP_SETTLED)  # (the zoom animation would carry on over the next view)

        # From zoom 15 every incident is its own marker again.
        page.evaluate(
            "() => { const s = window.citybrain.state, m = Object.values(s.incidentMarkers)[0];"
            " s.map.setView(m.getLatLng(), 16, {animate: false}); }"
        )
        page.evaluate(MAP_SETTLED)
        near = page.evaluate(INCIDENTS_SHOWN)
        assert near["clusters"] == 0 and near["single"] >= 1 and near["single"] == near["inView"], near
        page.screenshot(path=str(ARTIFACTS / "incidents-zoomed-in.png"))

        # A click on an incident opens its popup (bound on that first click: cbmap.livePopup).
        page.locator(".leaflet-marker-pane .cb-incident").first.dispatch_event("click")
        popup = page.locator(".leaflet-popup .cb-popup")
        popup.wait_for(state="visible", timeout=10_000)
        assert popup.locator(".cb-popup-title").inner_text().strip()
    finally:
        context.close()
