"""Offline maps for the /pilots pages: labelled circle markers over the six cities' real outlines.

No tile layer unless TILE_URL is set (as on the command centre): the base is the outlines of the six
leading cities (``data.geo.geography``), so the map works without internet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dash_leaflet as dl
from dash import html

from components.i18n import Pair, t
from components.markup import lang_spans

# One colour per City Brain developer (data.report developer keys), on every /pilots map.
DEV_COLORS = {
    "alibaba": "#e8590c",
    "jd_digits": "#c92a2a",
    "huawei": "#ae3ec9",
    "iflytek": "#1098ad",
    "aipark": "#2b8a3e",
    "baidu": "#1c7ed6",
    "unnamed": "#868e96",
}
OUTLINE_STYLE = {"color": "#5c6b7a", "weight": 1, "fillColor": "#8fa3b8", "fillOpacity": 0.25}
# A view of eastern China that also reaches Kuala Lumpur (the report's one City Brain outside China).
CHINA_BOUNDS = [[2.0, 99.0], [42.5, 124.0]]


@dataclass(frozen=True)
class MapPoint:
    key: str
    lat: float
    lon: float
    label: Pair
    popup: list[Any] = field(default_factory=list)
    color: str = "#0b6bcb"
    radius: int = 7
    dashed: bool = False  # planned / in development
    permanent_label: bool = True


def markers(points: list[MapPoint], id_prefix: str) -> list[dl.CircleMarker]:
    out = []
    for p in points:
        children: list[Any] = [
            dl.Tooltip(
                t(*p.label),
                permanent=p.permanent_label,
                direction="right",
                offset=[8, 0],
                className="rp-map-label",
            )
        ]
        if p.popup:
            children.append(dl.Popup(html.Div(p.popup, className="rp-popup"), maxWidth=340))
        out.append(
            dl.CircleMarker(
                children,
                id=f"{id_prefix}-{p.key}",
                center=[p.lat, p.lon],
                radius=p.radius,
                color="#ffffff" if not p.dashed else p.color,
                weight=2,
                dashArray="3 3" if p.dashed else None,
                fillColor=p.color,
                fillOpacity=0.9 if not p.dashed else 0.35,
            )
        )
    return out


def points_map(
    map_id: str,
    layers: list[tuple[Pair, str, list[MapPoint]]],  # (overlay name, layer-group id, points)
    outlines: dict[str, Any] | None,
    tile_url: str | None = None,
    tile_attribution: str = "",
    bounds: list[list[float]] | None = None,
    height: str = "520px",
) -> dl.Map:
    base: list[Any] = []
    if tile_url:
        base.append(dl.TileLayer(url=tile_url, attribution=tile_attribution, id=f"{map_id}-tiles"))
    if outlines:
        base.append(dl.GeoJSON(data=outlines, id=f"{map_id}-outlines", style=OUTLINE_STYLE, interactive=False))
    overlays = [
        dl.Overlay(
            dl.LayerGroup(markers(points, f"{map_id}-{group_id}"), id=group_id),
            name=str(lang_spans(name)),
            checked=True,
        )
        for name, group_id, points in layers
    ]
    return dl.Map(
        [*base, dl.LayersControl(overlays, id=f"{map_id}-layers", collapsed=False), dl.ScaleControl(imperial=False)],
        id=map_id,
        bounds=bounds or CHINA_BOUNDS,
        trackViewport=False,  # with bounds but no center, dash-leaflet's viewport tracking throws on moveend
        className="city-map rp-map",
        style={"height": height, "width": "100%"},
    )
