"""What several pilot pages share (Dash's page loader skips `_` files, so importing this runs no page)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dash import Input, Output, callback
from shapely.geometry import mapping

from components.report_ui import query_string
from data.geo.geography import CITIES as OUTLINED_CITIES
from data.geo.geography import city_outline

# How the report words a City Brain deployment's state.
STATUS_LABELS = {
    "deployed": ("in operation", "已应用"),
    "planned": ("planned", "计划中"),
    "developing": ("in development", "开发中"),
}


@lru_cache(maxsize=1)
def six_city_outlines() -> dict[str, Any]:
    """The real outlines of the six leading cities, simplified for a country-scale map."""
    features = []
    for key in OUTLINED_CITIES:
        geom = city_outline(key).simplify(0.01, preserve_topology=True)
        features.append({"type": "Feature", "properties": {"city": key}, "geometry": mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def filters_in_url(prefix: str, *names: str) -> None:
    """Keeps a page's filters in its address (a link reproduces the view): the dropdowns `<prefix>-<name>`
    write `?<name>=a,b` into the location `<prefix>-url`. Called once at a page's import, like @callback."""

    @callback(
        Output(f"{prefix}-url", "search"),
        *(Input(f"{prefix}-{name}", "value") for name in names),
        prevent_initial_call=True,
    )
    def filters_to_url(*values: Any) -> str:
        return query_string(dict(zip(names, values, strict=True)))
