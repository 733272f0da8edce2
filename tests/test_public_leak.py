"""Nothing operator-only reaches the public, however they call the server.

Every public route is requested (embed pages, the embed app's Dash endpoints including its
callbacks, public geometry, assets, and every open data API resource) while every frame read from
the store carries canary columns of the kind a dispatch workflow would add (notes, assignees, staff
names, plates, evidence photos, internal ids). No canary value, no operator-only field name, no
incident source reference, database id or exact location may appear in any response.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

import pandas as pd
import pytest

from data import access, store
from public import data as public_data
from tests.conftest import refresh_map_body

CANARY = {
    "notes": "CANARY-NOTE caller says the driver is drunk",
    "assignee": "CANARY-ASSIGNEE officer Wang Wei",
    "staff_name": "CANARY-STAFF Li Na",
    "vehicle_plate": "浙A·CANARY9",
    "evidence_photo_url": "https://internal.example/CANARY-evidence.jpg",
    "internal_id": "CANARY-INTERNAL-4242",
}
FORBIDDEN_KEYS = {
    *CANARY,
    "note",
    "assigned_to",
    "staff",
    "plate",
    "photo",
    "evidence",
    "severity",
    "sev",
    "ref",
    "source",
    "dispatched_at",
    "on_scene_at",
    "resolved_at",
    "arrivals",
    "turnover",
    "forecast_free",
    "tariff",
    "tariff_cny_h",
    "kpi",
    "alerts",
    "worst_station",
    "median_dispatch_s",
}
OPERATOR_IDS = ('"cc-', '"app-', '"sh-', '"pov-', '"rg-', "_pages_")
_ips = itertools.count(1)


def _ip() -> str:
    n = next(_ips)
    return f"10.2.{n // 250 % 250}.{n % 250 + 1}"


def _with_canaries(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**CANARY) if len(frame) else frame


def _clear(dash_app) -> None:
    public_data.clear_caches()
    for server in (dash_app.server, dash_app.server.extensions["citybrain_embed_app"].server):
        with server.app_context():
            access.cache.clear()


@pytest.fixture()
def tainted_store(dash_app, monkeypatch):
    """Every DataFrame read from the store (by the data layer or the public queries) gets canary columns.

    All of them pass through `store.read_frame` (the public queries are store functions too)."""
    read_frame = store.read_frame
    monkeypatch.setattr(store, "read_frame", lambda *a, **k: _with_canaries(read_frame(*a, **k)))
    _clear(dash_app)
    yield
    monkeypatch.undo()
    _clear(dash_app)


class Collector:
    """Requests public routes, each from a new client address, and keeps every answer."""

    def __init__(self, client) -> None:
        self.client, self.seen = client, []

    def get(self, path: str, expect: int = 200):
        response = self.client.get(path, environ_base={"REMOTE_ADDR": _ip()})
        assert response.status_code == expect, (path, response.status_code)
        self.seen.append((path, response))
        return response

    def dash(self, output: str, outputs, inputs, changed: str, expect: int = 200):
        body = {"output": output, "outputs": outputs, "inputs": inputs, "changedPropIds": [changed], "state": []}
        response = self.client.post("/embed/_dash-update-component", json=body, environ_base={"REMOTE_ADDR": _ip()})
        assert response.status_code == expect, (output, response.get_data(as_text=True)[:300])
        self.seen.append((f"POST {output} {json.dumps(inputs)[:80]}", response))
        return response


def _configure(c: Collector, pathname: str, search: str) -> dict[str, Any]:
    response = c.dash(
        "..em-root.children...em-config.data...em-interval.disabled..",
        [
            {"id": "em-root", "property": "children"},
            {"id": "em-config", "property": "data"},
            {"id": "em-interval", "property": "disabled"},
        ],
        [
            {"id": "em-url", "property": "pathname", "value": pathname},
            {"id": "em-url", "property": "search", "value": search},
        ],
        "em-url.pathname",
    )
    return response.get_json()["response"]["em-config"]["data"]


def _refresh(c: Collector, config: dict[str, Any]) -> dict[str, Any]:
    response = c.dash(
        "..em-live.data...em-time.children..",
        [{"id": "em-live", "property": "data"}, {"id": "em-time", "property": "children"}],
        [{"id": "em-tick", "property": "data", "value": 3}, {"id": "em-config", "property": "data", "value": config}],
        "em-tick.data",
    )
    return response.get_json()["response"]["em-live"]["data"]


def _request_every_public_route(c: Collector) -> None:
    # embed pages and the embed app's own Dash endpoints
    for path in ("/embed/", "/embed/map", "/embed/traffic", "/embed/parking", "/embed/air-quality", "/embed/incidents"):
        c.get(f"{path}?city=hangzhou&lang=en")
    c.get("/embed/map?city=beijing&layers=traffic,parking,air-quality,incidents&lang=zh")
    layout, deps = c.get("/embed/_dash-layout"), c.get("/embed/_dash-dependencies")
    for text in (layout.get_data(as_text=True), deps.get_data(as_text=True)):
        assert not any(marker in text for marker in OPERATOR_IDS)
    for dep in deps.get_json():
        for item in (*dep["inputs"], *dep["state"]):
            assert item["id"].startswith("em-"), item
    for city in ("hangzhou", "shenzhen"):
        for lang in ("zh", "en"):
            search = f"?city={city}&layers=traffic,parking,air-quality,incidents&lang={lang}"
            config = _configure(c, "/embed/map", search)
            assert config["layers"] == ["traffic", "parking", "air-quality", "incidents"]
            live = _refresh(c, config)
            assert live["incidents"] and len(live["traffic"]["ci"]) >= 2000
        for page in ("traffic", "parking", "air-quality", "incidents"):
            _refresh(c, _configure(c, f"/embed/{page}", f"?city={city}"))
    _configure(c, "/embed/map", "?city=atlantis")
    # the browser sends the config back: a forged one gets nothing more than a public refresh
    forged = {"city": "hangzhou", "layers": ["incidents", "kpi", "alerts"], "lang": "en", "internal": True}
    # ("geo": the public geometry's version, the same `v` its public URLs carry)
    assert set(_refresh(c, forged)) == {"at", "newest", "geo", "incidents"}
    for city in ("hangzhou", "beijing"):
        version = public_data.geometry_version(city)
        for layer in ("districts", "roads", "parking", "air_quality"):
            c.get(f"/embed/geo/{city}/{layer}.json?v={version}")
    c.get("/embed/assets/embed.js")
    c.get("/embed/assets/embed.css")
    c.get("/embed/icons/traffic_accident.svg")
    # the open data API
    for path in ("/api/ogc/", "/api/ogc/conformance", "/api/ogc/collections", "/api/ogc/api"):
        c.get(f"{path}?city=hangzhou")
    now = time.time()
    window = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - 2 * 3600))}/.."
    for collection in ("traffic", "parking", "air-quality", "incidents"):
        c.get(f"/api/ogc/collections/{collection}?city=hangzhou")
        page = c.get(f"/api/ogc/collections/{collection}/items?city=hangzhou&limit=10000").get_json()
        c.get(f"/api/ogc/collections/{collection}/items?city=hangzhou&datetime={window}&limit=10000")
        c.get(f"/api/ogc/collections/{collection}/items?city=hangzhou&f=csv&limit=5000")
        for feature in page["features"][:3]:
            c.get(f"/api/ogc/collections/{collection}/items/{feature['id']}?city=hangzhou")
    c.get("/api/ogc/collections/incidents/items?city=hangzhou&datetime=../..&limit=10000")
    c.get("/api/ogc/collections/incidents/items?city=shenzhen&datetime=../..&limit=10000&f=csv")


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | set().union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    return set()


def test_no_operator_field_or_value_reaches_any_public_route(dash_app, tainted_store):
    c = Collector(dash_app.server.test_client())
    _request_every_public_route(c)
    now = int(time.time())
    incidents = pd.concat(
        [store.incidents_between(store.get_engine(), city, now - 2 * 86400, now) for city in ("hangzhou", "shenzhen")]
    )
    assert len(incidents) > 1000
    refs = set(incidents["ref"])
    exact = {repr(float(v)) for v in pd.concat([incidents["lon"], incidents["lat"]]) if round(float(v), 3) != float(v)}
    db_ids = {str(int(i)) for i in incidents["id"]}
    assert len(c.seen) >= 70
    for path, response in c.seen:
        text = response.get_data(as_text=True)
        for value in CANARY.values():
            assert value not in text, (path, value)
        assert "sim-hangzhou-" not in text and "sim-shenzhen-" not in text, path  # source references
        assert '"simulator"' not in text and ",simulator" not in text, path  # source system
        if "incidents" in path or path.startswith("POST"):  # exact locations (notices carry 3 decimals)
            leaked = set(re.findall(r"-?\d+\.\d+", text)) & exact
            assert not leaked, (path, sorted(leaked)[:3])
        if response.mimetype.endswith("json"):
            body = json.loads(text)
            assert not (_keys(body) & FORBIDDEN_KEYS), (path, _keys(body) & FORBIDDEN_KEYS)
            for feature in body.get("features", []) if isinstance(body, dict) else []:
                if "notice_id" in feature["properties"]:
                    assert feature["id"] not in db_ids and feature["id"] not in refs
        elif response.mimetype == "text/csv":
            header = text.splitlines()[0].split(",")
            assert not (set(header) & FORBIDDEN_KEYS), (path, header)
    assert refs and exact and db_ids


def test_embed_answers_no_operator_callback(dash_app):
    client = dash_app.server.test_client()
    body = refresh_map_body("hangzhou")
    response = client.post("/embed/_dash-update-component", json=body, environ_base={"REMOTE_ADDR": _ip()})
    assert response.status_code == 404 and "cc-live" not in response.get_data(as_text=True)
    for path in ("/embed/_dash-update-component", "/embed/../_dash-layout"):
        garbage = client.post(path, data="{not json", environ_base={"REMOTE_ADDR": _ip()})
        assert garbage.status_code in (400, 404, 405, 415)
    # operator routes do not exist under the embed mount
    for path in ("/embed/geo/hangzhou/secrets.json", "/embed/healthz", "/embed/share", "/embed/pilots"):
        assert client.get(path, environ_base={"REMOTE_ADDR": _ip()}).status_code == 404, path


def test_public_geometry_carries_only_public_properties(dash_app):
    client = dash_app.server.test_client()
    allowed = {
        "districts": {"code", "name_zh", "name_en"},
        "roads": {"i", "name", "cls"},
        "parking": {"i", "name", "capacity"},
        "air_quality": {"i", "code", "name_zh", "name_en", "simulated"},
    }
    for layer, keys in allowed.items():
        body = client.get(f"/embed/geo/xiongan/{layer}.json", environ_base={"REMOTE_ADDR": _ip()}).get_json()
        assert body["features"]
        for feature in body["features"]:
            assert set(feature["properties"]) <= keys and "id" not in feature
