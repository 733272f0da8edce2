"""Wall mode (/wall?city=…&rotate=60): the city map with the KPIs and alerts around it, in large type,
for a screen nobody touches. No navigation; optional rotation through the six cities every `rotate`
seconds; assets/wall.js shows "reconnecting" while the server cannot be reached and reloads the page
once it answers again (a restart, a network drop), so the screen never goes blank."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from components.i18n import LOT_KINDS, POPUP_LABELS, SEVERITIES, t
from components.map_layers import city_map, incident_meta, layer_hideouts
from components.markup import pair, static, tag
from data import access
from data.config import load_settings
from data.geo.cities import CITIES, UnknownCityError, get_city
from data.rules import aqi as aqi_rules
from data.rules.clock import local_label
from data.rules.tables import RULE_TABLES
from pages import _live

dash.register_page(
    __name__,
    path="/wall",
    name="Wall",
    title="City Brain · Wall",
    order=90,  # no nav entry: a wall is opened by its URL
    access="viewer",
    id_prefix="wall",
)

log = logging.getLogger(__name__)
P = "wall"
ROTATE_LIMITS = (15, 3600)  # seconds per city
LABELS = POPUP_LABELS | {"kinds": LOT_KINDS}


def rotation(value: Any) -> int | None:
    """Seconds per city from `rotate`, or None: not a whole number within ROTATE_LIMITS (bounded first)."""
    text = str(value or "")[:6]
    if not text.isdigit():
        return None
    seconds = int(text)
    return seconds if ROTATE_LIMITS[0] <= seconds <= ROTATE_LIMITS[1] else None


def next_city(key: str) -> str:
    keys = list(CITIES)
    return keys[(keys.index(key) + 1) % len(keys)]


def _unknown(city: str) -> html.Div:
    links = [html.Li(html.A(t(c.name_en, c.name_zh), href=f"/wall?city={c.key}")) for c in CITIES.values()]
    return html.Div(
        [html.H2(t(f"Unknown city: {city[:40]}", f"未知城市：{city[:40]}")), html.Ul(links)],
        className="page-message wall-page",
        role="alert",
    )


def layout(city: str | None = None, rotate: str | None = None, **_query: Any) -> html.Div:
    try:
        info = get_city(city)
    except UnknownCityError:
        return _unknown(str(city))
    settings = load_settings()
    version = access.static_version(info.key)
    urls = {layer: f"/geo/{info.key}/{layer}.json?v={version}" for layer in access.GEOMETRY_LAYERS}
    urls |= {layer: f"/geo/{info.key}/{layer}.pbf?v={version}" for layer in ("roads", "parking", "air_quality")}
    seconds = rotation(rotate)
    pollutants = {k: [v[1], v[0]] for k, v in aqi_rules.POLLUTANT_LABELS.items()}
    meta = incident_meta(POPUP_LABELS, list, "/assets/icons/", RULE_TABLES, severities=SEVERITIES) | {"cluster": True}
    # The first picture comes with the page (after a reload too): the wall is never empty while it waits.
    live, time_label = refresh_map(None, info.key)
    kpis, alerts = refresh_panels(None, info.key)
    return html.Div(
        [
            *_live.live_stores(P, info.key, None if live is no_update else live, meta, kpis, alerts),
            dcc.Store(id=f"{P}-next", data=f"/wall?city={next_city(info.key)}&rotate={seconds}" if seconds else None),
            dcc.Interval(id=f"{P}-refresh", interval=settings.refresh_seconds * 1000),
            dcc.Interval(id=f"{P}-rotate", interval=(seconds or 3600) * 1000, disabled=seconds is None),
            html.Span(id=f"{P}-rotated", hidden=True),
            html.Header(
                [
                    html.H1([t(info.name_en, info.name_zh), " · ", t("City operations", "城市运行")]),
                    html.Span(time_label, id=f"{P}-time", className="wall-time"),
                    html.Span(t("SIMULATED DATA", "模拟数据"), className="sim-badge"),
                    html.Span(
                        t("Reconnecting…", "正在重新连接…"),
                        id=f"{P}-reconnecting",
                        className="wall-reconnecting",
                        role="status",
                        hidden=True,
                    ),
                ],
                className="wall-head",
            ),
            html.Div(
                city_map(
                    f"{P}-map",
                    info.center,
                    info.zoom,
                    urls,
                    layer_hideouts(LABELS, list, pollutants, RULE_TABLES),
                    tile_url=settings.tile_url,
                    tile_attribution=settings.tile_attribution,
                ),
                className="wall-map",
            ),
            # written whole (components/markup.py): the browser makes and refreshes what is inside
            static(
                html.Section,
                tag("h2", pair("Key indicators", "关键指标")),
                _live.kpi_panel(P, "kpi-grid wall-kpis"),
                className="wall-side panel",
            ),
            static(
                html.Section, tag("h2", pair("Alerts", "告警")), _live.alerts_panel(P), className="wall-alerts panel"
            ),
        ],
        className="wall-page",
    )


@callback(
    Output(f"{P}-live", "data"),
    Output(f"{P}-time", "children"),
    Input(f"{P}-tick-map", "data"),
    State(f"{P}-city-key", "data"),
    running=[(Output(f"{P}-busy-map", "data"), True, False)],
    prevent_initial_call=True,  # the layout holds the first answer
)
def refresh_map(_n: int | None, city: str):
    key = get_city(city).key  # (_n None: the layout's first values, which do not keep the city watched)
    return _live.map_answer(key, None, _time_label, _live.browser_versions(), watch=_n is not None)


def _time_label(at: int) -> list[Any]:
    return [local_label(at), " ", t("China Standard Time", "北京时间")]


@callback(
    Output(f"{P}-kpi-data", "data"),
    Output(f"{P}-alert-data", "data"),
    Input(f"{P}-tick-panels", "data"),
    State(f"{P}-city-key", "data"),
    running=[(Output(f"{P}-busy-panels", "data"), True, False)],
    prevent_initial_call=True,
)
def refresh_panels(_n: int | None, city: str):
    key, watch = get_city(city).key, _n is not None
    return _live.panel_data(key, None, watch=watch)


_live.register_live_refresh(P)
clientside_callback(
    # Only while the server answers (assets/wall.js): navigating during an outage would blank the screen.
    "(n, next) => { if (n && next && (!window.cbwall || window.cbwall.ok())) { window.location.assign(next); }"
    " return n || 0; }",
    Output(f"{P}-rotated", "children"),
    Input(f"{P}-rotate", "n_intervals"),
    State(f"{P}-next", "data"),
    prevent_initial_call=True,
)
