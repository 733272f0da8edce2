"""Parts shared by the per-city operator pages (data quality, model quality): the row of city links and a
titled panel whose body a callback fills."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dash import html

from components.i18n import Pair, t


def city_nav(path: str, cities: Iterable[Any]) -> html.Div:
    """A link to `path` for every city (objects with key, name_en, name_zh) as `?city=<key>`."""
    return html.Div(
        [html.A(t(c.name_en, c.name_zh), href=f"{path}?city={c.key}", className="nav-link") for c in cities],
        className="nav",
    )


def panel_section(title: Pair, body_id: str) -> html.Section:
    """A panel with an H2 title and an empty body (id `body_id`) for a callback to fill."""
    return html.Section([html.H2(t(*title)), html.Div(id=body_id)], className="panel")
