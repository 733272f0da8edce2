"""A minimal dash-leaflet page for comparison only (bench/run.py): the same three sensor layers of the
same city from the same geobuf files, with nothing else (no values, panels, time control or styling).

    DATA_DIR=... BENCH_CITY=hangzhou gunicorn -w 2 --chdir bench minimal_app:server

`window.minimal.drawn` counts the features added per layer, so the benchmark sees when they are drawn.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dash
import dash_leaflet as dl
from dash_extensions.javascript import Namespace
from flask import Response

from data import access
from data.config import load_settings
from data.geo.cities import get_city

CITY = get_city(os.environ.get("BENCH_CITY", "hangzhou"))
ns = Namespace("minimal", "map")

app = dash.Dash(__name__, assets_folder="assets_minimal", update_title=None)
access.cache.init_app(app.server, config=access.cache_config(load_settings()))


@app.server.get("/geo/<city>/<layer>.pbf")
def geobuf(city: str, layer: str) -> Response:
    return Response(access.geometry_geobuf(city, layer), mimetype="application/x-protobuf")


def _layer(name: str, **kwargs) -> dl.GeoJSON:
    return dl.GeoJSON(
        url=f"/geo/{CITY.key}/{name}.pbf", format="geobuf", id=name, onEachFeature=ns("count"), hideout=name, **kwargs
    )


app.layout = dl.Map(
    [_layer("roads"), _layer("parking", cluster=True), _layer("air_quality")],
    center=list(CITY.center),
    zoom=CITY.zoom,
    preferCanvas=True,
    style={"height": "100vh"},
)
server = app.server
