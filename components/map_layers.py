"""The city map, for the command centre and the public embeds alike: a district base from shipped data,
an optional tile layer, and overlays whose geometry comes by URL and whose values are restyled in the
browser (assets_embed/cbmap.js, shared by assets/citybrain.js and assets_embed/embed.js).

What differs between the two maps is passed in: which layers, the browser namespace of the style
functions, whether a layers control is shown, and the static per-layer data (`layer_hideouts`), whose
texts are language pairs the browser switches (operator) or already in one language (embed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dash_leaflet as dl
from dash_extensions.javascript import Namespace

from components.i18n import LAYERS, Pair
from components.markup import lang_spans

if TYPE_CHECKING:
    from data.rules.tables import RuleTables

# How a bilingual text reaches the browser: `list` keeps both (the page switches), a picker keeps one.
Text = Callable[[Pair], Any]
INCIDENTS_OVERLAY = str(lang_spans(LAYERS["incidents"]))
DISTRICT_STYLE = {"color": "#5c6b7a", "weight": 1.2, "fillColor": "#8fa3b8", "fillOpacity": 0.06, "dashArray": "3 3"}
MAP_LAYERS = ("traffic", "parking", "air_quality", "incidents")


def _format(url: str) -> str:
    """dash-leaflet reads geobuf (protobuf) or GeoJSON by URL; the route's extension says which."""
    return "geobuf" if url.split("?", 1)[0].endswith(".pbf") else "geojson"


def band_values(bands: Sequence[Any], text: Text) -> list[dict[str, Any]]:
    """Bands as the browser's style functions read them: upper bound (None for the last), colour, name."""
    return [
        {"high": None if b.high == float("inf") else b.high, "color": b.color, "name": text((b.name_en, b.name_zh))}
        for b in bands
    ]


def layer_hideouts(
    labels: dict[str, Any], text: Text, pollutant_labels: dict[str, Any], rules: RuleTables
) -> dict[str, dict[str, Any]]:
    """Static data of the sensor layers' style and popup functions: bands, AQI levels, popup labels.
    `labels` and `pollutant_labels` are given as the browser shows them (see `Text`)."""
    return {
        "traffic": {"layer": "traffic", "bands": band_values(rules.congestion_bands, text), "labels": labels},
        "parking": {"layer": "parking", "bands": band_values(rules.occupancy_bands, text), "labels": labels},
        "air_quality": {
            "layer": "air_quality",
            "labels": labels,
            "pollutants": list(rules.pollutants),
            "pollutant_labels": pollutant_labels,
            "units": rules.units,
            "levels": [
                {
                    "level": lv.level,
                    "color": lv.color,
                    "name": text((lv.name_en, lv.name_zh)),
                    "advice": text((lv.advice_en, lv.advice_zh)),
                }
                for lv in rules.aqi_levels
            ],
        },
    }


def incident_meta(
    labels: dict[str, Any], text: Text, icon_base: str, rules: RuleTables, **extra: Any
) -> dict[str, Any]:
    """What the browser's incident markers and popups need besides the rows: names, labels, icons."""
    return {
        "kinds": {k: text(v) for k, v in rules.incident_kinds.items()},
        "statuses": {k: text(v) for k, v in rules.statuses.items()},
        "labels": labels,
        "icon_base": icon_base,
        **extra,
    }


def city_map(
    map_id: str,
    center: Sequence[float],
    zoom: int,
    urls: dict[str, str],
    hideouts: dict[str, dict[str, Any]],
    *,
    layers: Sequence[str] = MAP_LAYERS,
    namespace: str = "citybrain",
    layers_control: bool = True,
    cluster_parking: bool = True,
    class_name: str = "city-map",
    scale_position: str | None = None,
    tile_url: str | None = None,
    tile_attribution: str = "",
    fit: Sequence[Sequence[float]] | None = None,
) -> dl.Map:
    """`fit` ([[south, west], [north, east]]): bounds the map is fitted to once mounted (the city's urban
    core); without it the map stays at `center` and `zoom` (a shared view, or an incident)."""
    ns = Namespace(namespace, "map")
    base: list[Any] = [
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
    cluster = (
        {
            "cluster": True,
            "clusterToLayer": ns("lotCluster"),
            "zoomToBoundsOnClick": True,
            "superClusterOptions": {"radius": 110, "maxZoom": 14},  # few, small groups: incidents stay on top
        }
        if cluster_parking
        else {}
    )

    def sensor(layer: str, url: str, suffix: str, **functions: Any) -> dl.GeoJSON:
        return dl.GeoJSON(url=url, format=_format(url), id=f"{map_id}-{suffix}", hideout=hideouts[layer], **functions)

    sensor_layers = {
        "traffic": sensor("traffic", urls["roads"], "traffic", style=ns("roadStyle"), onEachFeature=ns("onEachRoad")),
        "parking": sensor("parking", urls["parking"], "parking", pointToLayer=ns("lotToLayer"), **cluster),
        "air_quality": sensor("air_quality", urls["air_quality"], "air", pointToLayer=ns("stationToLayer")),
    }
    shown = {name: layer for name, layer in sensor_layers.items() if name in layers}
    if layers_control:
        overlays = [
            dl.Overlay(layer, name=str(lang_spans(LAYERS[name])), checked=True) for name, layer in shown.items()
        ]
        if "incidents" in layers:
            # Incident markers are diffed by id in the browser (assets/citybrain.js); this empty group only
            # gives them their checkbox, whose state reaches the script through the control's `overlays`.
            overlays.append(dl.Overlay(dl.LayerGroup(id=f"{map_id}-incidents"), name=INCIDENTS_OVERLAY, checked=True))
        # `overlays` is given up front: dash-leaflet 1.1.3's control handlers read it before their own
        # mount effect sets it, so the first box unchecked threw a TypeError and the list went wrong.
        control = dl.LayersControl(
            overlays, id=f"{map_id}-layers", collapsed=False, overlays=[o.name for o in overlays if o.checked]
        )
        children = [*base, control]
    else:  # the embed draws its incident markers itself, with no control to toggle them
        children = [*base, *shown.values()]
    scale = {"position": scale_position} if scale_position else {}
    view = {"viewport": {"bounds": [list(p) for p in fit], "transition": "fitBounds"}} if fit else {}
    return dl.Map(
        [*children, dl.ScaleControl(imperial=False, **scale)],
        id=map_id,
        center=list(center),
        zoom=zoom,
        preferCanvas=True,
        # No callback reads the view (the browser keeps it in the address, assets/citybrain.js): tracking
        # it made a Dash store update, answered by every component on the page, at load and every pan.
        trackViewport=False,
        className=class_name,
        style={"height": "100%", "width": "100%"},
        **view,
    )


def core_fit(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    """(minx, miny, maxx, maxy) as Leaflet's [[south, west], [north, east]]."""
    minx, miny, maxx, maxy = bounds
    return [[miny, minx], [maxy, maxx]]
