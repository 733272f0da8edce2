"""The first page comes with the layout, dash-ag-grid is loaded where a grid is shown, and the
command centre's HTML preloads what the map needs first (components/page_speed.py, issue 8)."""

from __future__ import annotations

import json
import re

from tests.conftest import PROJECT, signed_in_client


def _layout(client, referer: str | None) -> dict:
    headers = {"Referer": referer} if referer else {}
    response = client.get("/_dash-layout", headers=headers)
    assert response.status_code == 200, response.data[:300]
    return json.loads(response.data)


def _find(node, component_id: str):
    """The component with this id in a layout as Dash serves it (JSON)."""
    if isinstance(node, list):
        for item in node:
            found = _find(item, component_id)
            if found is not None:
                return found
    elif isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        for value in node.get("props", {}).values():
            found = _find(value, component_id)
            if found is not None:
                return found
    return None


def test_layout_carries_the_page_being_opened_and_its_first_live_values(client):
    layout = _layout(client, "http://localhost/?city=hangzhou")
    location = _find(layout, "_pages_location")["props"]
    # dcc.Location finds the browser where it is: the routing callback does not run again.
    assert location["pathname"] == "/" and location["search"] == "?city=hangzhou"
    assert _find(layout, "cc-map") is not None
    assert _find(layout, "cc-city-key")["props"]["data"] == "hangzhou"
    live = _find(layout, "cc-live")["props"]["data"]
    assert {"traffic", "parking", "air_quality", "incidents", "at"} <= set(live)
    assert len(live["traffic"]["ci"]) >= 2000 and live["incidents"]["id"]
    assert _find(layout, "_pages_store")["props"]["data"]["title"] == "City Brain · Command centre"


def test_layout_renders_other_pages_and_their_query(client):
    layout = _layout(client, "http://localhost/incidents?city=shanghai")
    assert _find(layout, "_pages_location")["props"]["pathname"] == "/incidents"
    assert _find(layout, "inc-grid") is not None


def test_layout_leaves_routing_to_dash_when_it_cannot_know_or_may_not_show(dash_app, client):
    for referer in (None, "http://elsewhere.example/?city=hangzhou", "http://localhost/no-such-page"):
        layout = _layout(client, referer)
        assert "pathname" not in _find(layout, "_pages_location")["props"], referer
        assert _find(layout, "_pages_content")["props"].get("children") is None, referer
    # An operator may not open the audit log: its layout is not sent, the gate answers as before.
    layout = _layout(client, "http://localhost/audit")
    assert _find(layout, "_pages_content")["props"].get("children") is None
    supervisor = signed_in_client(dash_app, "supervisor")
    assert _find(_layout(supervisor, "http://localhost/audit"), "_pages_content")["props"]["children"]


def test_anonymous_layout_only_renders_public_pages(anon_client):
    assert _find(_layout(anon_client, "http://localhost/"), "_pages_content")["props"].get("children") is None
    pilots = _find(_layout(anon_client, "http://localhost/pilots"), "_pages_content")["props"]
    assert pilots.get("children")


def _scripts(page_html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', page_html)


def test_command_centre_html_leaves_out_ag_grid_and_preloads_the_map(client):
    page_html = client.get("/?city=hangzhou").data.decode()
    scripts = _scripts(page_html)
    assert not [s for s in scripts if "dash_ag_grid" in s], scripts
    assert any(s.startswith("/assets/lazy_libraries.js") for s in scripts)
    listing = re.search(r'<script type="application/json" id="citybrain-lazy-libraries">([^<]+)</script>', page_html)
    bundle = json.loads(listing.group(1))["dash_ag_grid"]
    assert re.fullmatch(r"/_dash-component-suites/dash_ag_grid/dash_ag_grid\.v[0-9_]+m\d+\.min\.js", bundle)
    assert client.get(bundle).status_code == 200
    # The list comes before the stand-in reads it.
    assert page_html.index("citybrain-lazy-libraries") < page_html.index("/assets/lazy_libraries.js")
    # No @babel/polyfill: the regenerator runtime the bundles call is defined before the renderer runs.
    assert not [s for s in scripts if "polyfill" in s], scripts
    runtime = next(k for k, s in enumerate(scripts) if s.startswith("/assets/regenerator_runtime.js"))
    assert runtime < next(k for k, s in enumerate(scripts) if "dash_renderer" in s)
    assert not [s for s in scripts if "dash_table" in s], scripts  # no page draws a DataTable

    head = page_html.split("</head>")[0]
    preloaded = dict(re.findall(r'<link rel="preload" href="([^"]+)" as="(\w+)"', head))
    for layer in ("roads", "parking", "air_quality"):
        url = next(u for u in preloaded if u.startswith(f"/geo/hangzhou/{layer}.pbf?v="))
        assert preloaded[url] == "fetch" and client.get(url).status_code == 200
    assert any(u.startswith("/geo/hangzhou/districts.json?v=") for u in preloaded)
    assert preloaded["/_dash-layout"] == "fetch" and preloaded["/_dash-dependencies"] == "fetch"
    for chunk in ("async-GeoJSON.js", "async-geobuf.js"):
        url = f"/_dash-component-suites/dash_leaflet/{chunk}"
        assert preloaded[url] == "script" and client.get(url).status_code == 200
    # The geometry preloaded is the geometry the map asks for (same URL: the browser uses it once).
    map_urls = json.dumps(_find(_layout(client, "http://localhost/?city=hangzhou"), "cc-map"))
    for url in preloaded:
        if url.startswith("/geo/"):
            assert json.dumps(url) in map_urls, url


def test_no_page_draws_a_dash_table_whose_script_the_pages_leave_out():
    """components/page_speed.py takes dash_table's bundle out of the operator pages: a DataTable added
    to a page would draw nothing. This fails first, naming the file."""
    users = []
    for folder in ("pages", "components", "api"):
        for path in (PROJECT / folder).rglob("*.py"):
            if path.name == "page_speed.py":  # the one that takes the script out
                continue
            source = path.read_text(encoding="utf-8")
            if "DataTable" in source or "dash_table" in source:
                users.append(str(path.relative_to(PROJECT)))
    assert users == [], users


def test_other_pages_and_the_embed_app_keep_their_scripts(client):
    incidents = client.get("/incidents").data.decode()
    assert "citybrain-lazy-libraries" in incidents and "/geo/" not in incidents.split("</head>")[0]
    embed = client.get("/embed/map?city=hangzhou").data.decode()
    assert "citybrain-lazy-libraries" not in embed and 'rel="preload"' not in embed
    assert [s for s in _scripts(embed) if "/deps/polyfill@" in s]  # embeds go to any browser: kept


def test_the_first_live_values_travel_as_arrays_and_serialise_to_the_same_json():
    """Dash walks every list element of a layout in Python to encode it; the long value lists go as numpy
    arrays (one leaf each), and the browser gets the same JSON."""
    import numpy as np
    from dash._utils import to_json

    from pages._live import _as_arrays

    live = {"traffic": {"ci": [0.5, 1.25] * 40, "stale": [], "v": "x"}, "incidents": {"id": list(range(100)),
            "kind": [0, 1] * 50, "sev": [1, None] * 50, "districts": ["A"] * 70, "due_at": [1.5, 2] * 50}}  # fmt: skip
    arrays = _as_arrays(live)
    assert isinstance(arrays["traffic"]["ci"], np.ndarray) and isinstance(arrays["incidents"]["id"], np.ndarray)
    # gaps (None), text and mixed int/float lists stay lists: an array would change their JSON
    assert all(isinstance(arrays["incidents"][k], list) for k in ("sev", "districts", "due_at"))
    assert json.loads(to_json(arrays)) == live


def _components(node) -> int:
    """Dash components in a layout as served (JSON), option labels and other props included."""
    if isinstance(node, list):
        return sum(_components(item) for item in node)
    if isinstance(node, dict):
        own = 1 if "namespace" in node and "type" in node else 0
        return own + sum(_components(value) for value in node.values())
    return 0


# Dash 4's renderer answers every store update with every component on the page, and each component
# rendered fresh is one store update: the page-open work grows with the square of the count. 1b282f5's
# command centre (page, shell and Dash Pages' container) served 116; ceca624..cf04ec6 brought it to 63.
COMMAND_CENTRE_COMPONENTS = 70


def test_the_command_centre_is_few_dash_components(client):
    layout = _layout(client, "http://localhost/?city=hangzhou")
    assert _find(layout, "cc-map") is not None  # the page itself came with the layout
    assert _components(layout) <= COMMAND_CENTRE_COMPONENTS
