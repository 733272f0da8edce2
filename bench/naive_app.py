"""The naive way, for comparison only (bench/run.py): a Dash app whose refresh callback returns the
full GeoJSON of every sensor layer, values and styles included, on every tick.

    DATA_DIR=... gunicorn -w 2 --chdir bench naive_app:server

It reads the same store as the product (same city, same data) but none of its caching, geometry
by URL, browser-side styling or deltas: what a first Dash + dash-leaflet version usually does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dash
import dash_leaflet as dl
from dash import Input, Output, dcc

from data import store
from data.geo.cities import get_city
from data.rules.congestion import CONGESTION_BANDS

CITY = get_city(os.environ.get("BENCH_CITY", "hangzhou"))


def _colour(value: float | None) -> str:
    if value is None:
        return "#9e9e9e"
    return next((b.color for b in CONGESTION_BANDS if value < b.high), CONGESTION_BANDS[-1].color)


def layers() -> tuple[dict, dict, dict]:
    engine = store.get_engine()
    now = int(time.time())
    out = []
    for layer, sensor_col in (("traffic", "segment_id"), ("parking", "lot_id"), ("air_quality", "station_id")):
        sensors = store.sensors(engine, layer, CITY.key)
        found = store.latest_bucket_at_or_before(engine, layer, CITY.key, store.bucket_of(now))
        obs = store.observations(engine, layer, CITY.key, found) if found is not None else None
        values = obs.set_index(sensor_col).to_dict("index") if obs is not None else {}
        features = []
        for row in sensors.to_dict("records"):
            v = values.get(row["id"], {})
            if layer == "traffic":
                speed = v.get("speed_kmh")
                ci = round(max(1.0, row["free_flow_kmh"] / speed), 2) if speed else None
                geometry = {"type": "LineString", "coordinates": json.loads(row["coords"])}
                props = {"name": row["name"], "speed": speed, "ci": ci, "cls": row["road_class"]}
                props["style"] = {"color": _colour(ci), "weight": 3}
            else:
                geometry = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
                props = {k: v2 for k, v2 in row.items() if k not in ("lon", "lat", "coords")}
                props |= {k: v2 for k, v2 in v.items() if k != "city"}
            features.append({"type": "Feature", "id": row["id"], "geometry": geometry, "properties": props})
        out.append({"type": "FeatureCollection", "features": features})
    return tuple(out)


app = dash.Dash(__name__, assets_folder="assets_minimal", update_title=None)
app.layout = dash.html.Div(
    [
        dcc.Interval(id="tick", interval=10_000),
        dl.Map(
            [
                dl.GeoJSON(id="roads", data=None),
                dl.GeoJSON(id="lots", data=None, cluster=True),
                dl.GeoJSON(id="stations", data=None),
            ],
            center=list(CITY.center),
            zoom=CITY.zoom,
            preferCanvas=True,
            style={"height": "100vh"},
        ),
    ]
)


@app.callback(Output("roads", "data"), Output("lots", "data"), Output("stations", "data"), Input("tick", "n_intervals"))
def refresh(_n):
    return layers()


server = app.server
