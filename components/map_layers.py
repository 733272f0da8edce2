"""The command-centre map: a district base from shipped data, an optional tile layer, and four
overlays whose geometry comes by URL and whose values are restyled in the browser (assets/citybrain.js)."""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash_extensions.javascript import Namespace

from components.i18n import LAYERS, html_pair

ns = Namespace("citybrain", "map")
INCIDENTS_OVERLAY = html_pair(LAYERS["incidents"])
DISTRICT_STYLE = {"color": "#5c6b7a", "weight": 1.2, "fillColor": "#8fa3b8", "fillOpacity": 0.06, "dashArray": "3 3"}


def _format(url: str) -> str:
    """dash-leaflet reads geobuf (protobuf) or GeoJSON by URL; the route's extension says which."""
    return "geobuf" if url.split("?", 1)[0].endswith(".pbf") else "geojson"


def city_map(
    map_id: str,
    center: tuple[float, float],
    zoom: int,
    urls: dict[str, str],
    hideouts: dict[str, dict[str, Any]],  # static per layer: bands, colours, labels
    tile_url: str | None = None,
    tile_attribution: str = "",
) -> dl.Map:
    base = [
        dl.GeoJSON(
            url=urls["districts"],
            id=f"{map_id}-districts",
            style=ns("districtStyle"),
            hideout={"style": DISTRICT_STYLE},
            interactive=False,
        )
    ]
    if tile_url:
        base.insert(0, dl.TileLayer(url=tile_url, attribution=tile_attribution, id=f"{map_id}-tiles"))
    overlays = [
        dl.Overlay(
            dl.GeoJSON(
                url=urls["roads"],
                format=_format(urls["roads"]),
                id=f"{map_id}-traffic",
                hideout=hideouts["traffic"],
                style=ns("roadStyle"),
                onEachFeature=ns("onEachRoad"),
            ),
            name=html_pair(LAYERS["traffic"]),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(
                url=urls["parking"],
                format=_format(urls["parking"]),
                id=f"{map_id}-parking",
                hideout=hideouts["parking"],
                pointToLayer=ns("lotToLayer"),
                cluster=True,
                clusterToLayer=ns("lotCluster"),
                zoomToBoundsOnClick=True,
                superClusterOptions={"radius": 60, "maxZoom": 14},
            ),
            name=html_pair(LAYERS["parking"]),
            checked=True,
        ),
        dl.Overlay(
            dl.GeoJSON(
                url=urls["air_quality"],
                format=_format(urls["air_quality"]),
                id=f"{map_id}-air",
                hideout=hideouts["air_quality"],
                pointToLayer=ns("stationToLayer"),
            ),
            name=html_pair(LAYERS["air_quality"]),
            checked=True,
        ),
        # Incident markers are diffed by id in the browser (assets/citybrain.js); this empty group only
        # gives them their checkbox, whose state reaches the script through the control's `overlays`.
        dl.Overlay(dl.LayerGroup(id=f"{map_id}-incidents"), name=INCIDENTS_OVERLAY, checked=True),
    ]
    return dl.Map(
        [
            *base,
            # `overlays` is given up front: dash-leaflet 1.1.3's control handlers read it before their own
            # mount effect sets it, so the first box unchecked threw a TypeError and the list went wrong.
            dl.LayersControl(
                overlays, id=f"{map_id}-layers", collapsed=False, overlays=[o.name for o in overlays if o.checked]
            ),
            dl.ScaleControl(imperial=False),
        ],
        id=map_id,
        center=list(center),
        zoom=zoom,
        preferCanvas=True,
        className="city-map",
        style={"height": "100%", "width": "100%"},
    )
