"""Command centre (/): one city live — map layers, KPIs, alerts and the live/history time control."""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from components.data_sources import empty_map_note, source_note
from components.forecast_outlook import outlook_panel
from components.i18n import LAYERS, LOT_KINDS, POPUP_LABELS, SEVERITIES, t
from components.kpi import HIGHER_IS_WORSE, error_panel
from components.legend import operator_legend
from components.map_filters import MapQuery, filter_defaults, incident_filters, initial_filter, parse_map_query
from components.map_layers import city_map, core_fit, incident_meta, layer_hideouts
from components.markup import pair, static, tag, text
from components.time_control import PAUSE, PLAY, time_control
from components.trend import chart_panel
from data import access
from data.config import load_settings
from data.geo.cities import CITIES, UnknownCityError, get_city
from data.geo.geography import urban_core_bounds
from data.rules import aqi as aqi_rules
from data.rules.clock import CST, local_label
from data.rules.tables import RULE_TABLES
from data.rules.vocabulary import INCIDENT_KINDS
from pages._live import (
    alerts_panel,
    browser_versions,
    kpi_panel,
    live_stores,
    map_answer,
    panel_data,
    register_live_refresh,
)

dash.register_page(
    __name__,
    path="/",
    name="Command centre",
    title="City Brain · Command centre",
    nav=("Command centre", "指挥中心"),
    order=0,
    access="viewer",
    id_prefix="cc",
)

log = logging.getLogger(__name__)
P = "cc"  # id prefix of this page
ICON_BASE = "/assets/icons/"


# Texts go to the browser as [en, zh] pairs: the page switches language without a server round trip.
LABELS = POPUP_LABELS | {"kinds": LOT_KINDS}
POLLUTANT_NAMES = {k: [v[1], v[0]] for k, v in aqi_rules.POLLUTANT_LABELS.items()}


def _hideouts() -> dict[str, dict[str, Any]]:
    return layer_hideouts(LABELS, list, POLLUTANT_NAMES, RULE_TABLES)


def _incident_meta() -> dict[str, Any]:
    return incident_meta(POPUP_LABELS, list, ICON_BASE, RULE_TABLES, severities=SEVERITIES)


def _cluster_incidents() -> bool:
    """Group open incidents on the map below street zoom (in the browser, assets/citybrain.js): 1,100-1,300
    open incidents at the default scale buried the roads as single icons. INCIDENT_CLUSTER=0 turns it off."""
    return load_settings().incident_cluster != "0"


def _map_options(wanted: MapQuery) -> dict[str, Any]:
    return {"cluster": _cluster_incidents(), "filter_defaults": filter_defaults(), "filter": initial_filter(wanted)}


def _city_menu(current: str) -> html.Details:
    """The city switch: a written menu of links, each opening that city's command centre. (It was a
    dcc.Dropdown, react-select: the heaviest widget the page drew at open, for a choice that reloads
    the page anyway.)"""
    here = get_city(current)
    links = [
        tag(
            "li",
            tag(
                "a",
                pair(c.name_en, c.name_zh),
                href=f"/?city={c.key}",
                aria_current="page" if c.key == here.key else None,
            ),
        )
        for c in CITIES.values()
    ]
    return static(
        html.Details,
        tag("summary", pair(here.name_en, here.name_zh), title="City · 城市"),
        tag("ul", *links, class_="city-menu-list"),
        className="city-select city-menu",
        id=f"{P}-city",
    )


def _unknown_city(city: str) -> html.Div:
    links = [html.Li(html.A(t(c.name_en, c.name_zh), href=f"/?city={c.key}")) for c in CITIES.values()]
    return html.Div(
        [
            html.H2(t(f"Unknown city: {city}", f"未知城市：{city}")),
            html.P(
                t(
                    "This dashboard covers the report's six leading cities. Choose one:",
                    "本平台覆盖报告中的六个领先城市，请选择：",
                )
            ),
            html.Ul(links),
        ],
        className="page-message",
        role="alert",
    )


def _geometry_urls(city: str) -> dict[str, str]:
    version = access.static_version(city)
    urls = {layer: f"/geo/{city}/{layer}.json?v={version}" for layer in access.GEOMETRY_LAYERS}
    # The sensor layers travel as geobuf (smaller, decoded faster: 100,000 roads at SIM_SCALE=shanghai),
    # except an empty one: dash-leaflet cannot read an empty geobuf and then never loads the layer again.
    counts = access.data_sources(city).sensors
    shown = {"roads": "traffic", "parking": "parking", "air_quality": "air_quality"}
    urls |= {layer: f"/geo/{city}/{layer}.pbf?v={version}" for layer, key in shown.items() if counts[key]}
    return urls


# The webpack chunks of the components this page draws first (dash-leaflet's GeoJSON and its
# geobuf reader and the time slider): loaded on first use otherwise, one by one.
CHUNKS = (
    "/_dash-component-suites/dash_leaflet/async-GeoJSON.js",
    "/_dash-component-suites/dash_leaflet/async-geobuf.js",
    "/_dash-component-suites/dash/dcc/async-slider.js",
)


def preload(city: str | None = None, incident: str | None = None, **_query: Any) -> list[tuple[str, str]]:
    """What the page's HTML preloads (components/page_speed.py): this city's geometry, and CHUNKS."""
    city = _city_of(city, incident)[0]
    try:
        key = get_city(city).key
    except UnknownCityError:
        return []
    return [(url, "fetch") for url in _geometry_urls(key).values()] + [(url, "script") for url in CHUNKS]


def _city_of(city: str | None, incident: str | None) -> tuple[str | None, dict[str, Any] | None]:
    focus = access.incident_focus(incident) if incident else None  # ?incident=ID: the map flies to it
    if focus and not city:
        city = focus["city"]
    return city, focus


def layout(city: str | None = None, incident: str | None = None, **query: Any) -> html.Div:
    city, focus = _city_of(city, incident)
    try:
        info = get_city(city)
    except UnknownCityError:
        return _unknown_city(str(city))
    # The view: the address's own (a reload, a shared link), else the incident's, else the urban core.
    wanted = parse_map_query(query, list(INCIDENT_KINDS))
    fit = None
    if wanted.has_view:
        centre, zoom = (wanted.lat, wanted.lon), wanted.zoom
    elif focus and focus["city"] == info.key:
        centre, zoom = (focus["lat"], focus["lon"]), 17
    else:
        centre, zoom, fit = info.center, info.zoom, core_fit(urban_core_bounds(info.key))
    settings = load_settings()
    window = access.history_window()
    urls = _geometry_urls(info.key)
    marks = {step: local_label(window.first_bucket + step * access.B)[5:10] for step in range(0, window.steps + 1, 96)}
    marks |= _forecast_marks(window.steps)
    live, label = _live_answer(info.key, "live", window.steps, None, watch=False)
    kpis, alerts = _panels(info.key, "live", window.steps, watch=False)  # (not a second round trip)
    sources = access.data_sources(info.key)
    return html.Div(
        [
            # The first live values come with the page (refresh_map answers the ticks and the time control).
            *live_stores(
                P,
                info.key,
                None if live is no_update else live,
                _incident_meta()
                | {
                    "cluster": _cluster_incidents(),
                    "filter_defaults": filter_defaults(),
                    "filter": initial_filter(wanted),
                },
                kpis,
                alerts,
            ),
            dcc.Store(id=f"{P}-trend-key"),
            dcc.Store(id=f"{P}-kpi-pick"),  # {key, n}: the card last clicked (assets/citybrain.js)
            html.Div(
                [
                    static(
                        html.H1,
                        pair("Command centre", "城市运行指挥中心"),
                        " · ",
                        pair(info.name_en, info.name_zh),
                        className="page-title",
                    ),
                    _city_menu(info.key),
                    time_control(
                        P,
                        window.steps,
                        marks,
                        settings.refresh_seconds,
                        label,
                        {
                            "bucket": access.B,
                            "span": window.last_bucket - window.first_bucket,
                            "offset": CST,
                            "quarters": access.FORECAST_STEPS,
                        },  # then hourly steps (assets/citybrain.js stepTime)
                        access.FORECAST_SLIDER_STEPS,
                    ),
                ],
                className="toolbar",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            city_map(
                                f"{P}-map",
                                centre,
                                zoom,
                                urls,
                                _hideouts(),
                                tile_url=settings.tile_url,
                                tile_attribution=settings.tile_attribution,
                                fit=fit,
                            ),
                            incident_filters(P, wanted, RULE_TABLES),
                            operator_legend(ICON_BASE, RULE_TABLES),
                            empty_map_note(f"{P}-map-empty", hidden=not sources.empty),
                        ],
                        className="map-panel",
                    ),
                    # A card's chart (a click on the card opens it) opens over the side column, not the map
                    # (over the map it hid its left half); × gives the cards back.
                    html.Div(
                        [
                            html.Button("×", id=f"{P}-trend-close", className="btn trend-close", title="Close · 关闭"),
                            html.Div(id=f"{P}-trend-body"),
                        ],
                        id=f"{P}-trend-panel",
                        className="trend-panel panel",
                        hidden=True,
                    ),
                    # written whole: the cards and alerts are made and refreshed by the browser
                    # (citybrain.js applyPanels), so none of this needs to be a Dash component
                    static(
                        html.Aside,
                        tag(
                            "section",
                            tag("h2", pair("Key indicators", "关键指标")),
                            # No loading overlay: it hid the cards during every refresh slower than its
                            # delay; the cards are drawn once and refreshed in place.
                            kpi_panel(P, pickable=True),
                            class_="panel",
                        ),
                        tag("section", tag("h2", pair("Alerts", "告警")), alerts_panel(P), class_="panel"),
                        source_note(sources.simulated),
                        className="side-panel",
                    ),
                ],
                className="cc-body",
            ),
        ],
        className="command-centre",
    )


@callback(
    Output(f"{P}-slider", "disabled"),
    Output(f"{P}-play", "disabled"),
    Output(f"{P}-refresh", "disabled"),
    Input(f"{P}-mode", "value"),
    prevent_initial_call=True,  # the layout opens in Live: slider and play disabled, refresh running
)
def switch_mode(mode: str) -> tuple[bool, bool, bool]:
    history = mode == "history"
    return not history, not history, history


@callback(
    Output(f"{P}-playback", "disabled"),
    Output(f"{P}-play", "children"),
    Input(f"{P}-play", "n_clicks"),
    Input(f"{P}-mode", "value"),
    State(f"{P}-playback", "disabled"),
    prevent_initial_call=True,
)
def play_pause(_clicks: int, mode: str, paused: bool):
    playing = mode == "history" and dash.ctx.triggered_id == f"{P}-play" and paused
    return (not playing, text(PAUSE if playing else PLAY))


@callback(
    Output(f"{P}-slider", "value"),
    Input(f"{P}-playback", "n_intervals"),
    State(f"{P}-slider", "value"),
    State(f"{P}-slider", "max"),
    prevent_initial_call=True,
)
def advance_playback(_n: int, step: int, last: int) -> int:
    return 0 if step >= last else step + 1


@callback(
    Output(f"{P}-live", "data"),
    Output(f"{P}-time-label", "children"),
    Input(f"{P}-tick-map", "data"),
    Input(f"{P}-mode", "value"),
    Input(f"{P}-slider", "value"),
    State(f"{P}-city-key", "data"),
    running=[(Output(f"{P}-busy-map", "data"), True, False)],
    prevent_initial_call=True,  # the layout holds the first answer
)
def refresh_map(_n: int, mode: str, step: int, city: str):
    return _live_answer(get_city(city).key, mode, step, browser_versions())  # an unknown city: 400 (auth.callbacks)


def _live_answer(city: str, mode: str, step: int, have: dict[str, str] | None, watch: bool = True):
    """The map's live store and the time label; the store is no_update when the values failed. `watch`:
    False for the page's first values (data.live_now.view)."""
    window = access.history_window()
    if mode == "history" and isinstance(step, int) and step > window.steps:
        return _forecast_answer(city, min(step - window.steps, access.FORECAST_SLIDER_STEPS), window)
    live = mode != "history"

    def label(at: int) -> list[Any]:
        # one written component: it is replaced at every refresh, and each component Dash renders fresh
        # costs a store dispatch that every component on the page answers
        mode_name = pair("Live", "实时") if live else pair("History", "历史")
        return [static(html.Span, mode_name, " · ", local_label(at), " ", pair("China Standard Time", "北京时间"))]

    return map_answer(city, None if live else access.resolve_at(mode, step), label, have, watch)


FORECAST_REASONS = {
    "baseline better": ("no forecast: baseline better", "无预测：基准更优"),
    "beyond horizon": ("beyond its horizon", "超出预测时长"),
    "observed hour": ("this hour observed", "本小时为观测值"),
    "beyond 1 h": ("no forecast beyond 1 h (greyed)", "超过 1 小时无预测（灰色显示）"),
    None: ("no forecast yet", "暂无预测"),
}


def _forecast_marks(steps: int) -> dict[int, str]:
    """The slider's mark past now: its end, air quality's +72 h (the 75 future steps are a tenth of the
    slider: more marks would overlap; the tooltip and the label give each step's time)."""
    return {steps + access.FORECAST_SLIDER_STEPS: f"+{access.AQI_FORECAST_HOURS} h"}


def _forecast_answer(city: str, ahead: int, window: access.TimeWindow):
    """A slider step past now: the layers' forecasts for it, and a FORECAST label naming any layer
    without one (its model lost to the naive baseline, none is fitted yet, or past +1 h for parking and
    traffic, drawn grey like a sensor without data), with the city's AQI outlook in HJ 633 levels beside it."""
    at = access.forecast_step_at(window.last_bucket, ahead)
    span = at - window.last_bucket
    label: list[Any] = [
        html.Span(t("FORECAST", "预测"), className="forecast-banner"),
        f" · +{span // 60} min · " if span <= 3600 else f" · +{span // 3600} h · ",
        local_label(at),
        " ",
        t("China Standard Time", "北京时间"),
    ]
    try:
        payload = access.forecast_map_values(city, at)
    except Exception:
        log.exception("forecast map failed for %s at %s", city, at)
        return no_update, [*label, " · ", html.Span(t("forecast unavailable", "预测暂不可用"), className="text-error")]
    for layer, info in payload["forecast"].items():
        if not info["served"]:
            reason = FORECAST_REASONS.get(info["reason"], FORECAST_REASONS[None])
            name = LAYERS[layer]
            label += [" · ", t(f"{name[0]}: {reason[0]}", f"{name[1]}：{reason[1]}", className="forecast-note")]
    try:
        label.append(outlook_panel(access.forecast_outlook(city), CST))
    except Exception:
        log.exception("AQI outlook failed for %s", city)
    return payload, label


def _strip(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if k != "kpi"}


@callback(
    Output(f"{P}-kpi-data", "data"),
    Output(f"{P}-alert-data", "data"),
    Input(f"{P}-tick-panels", "data"),
    Input(f"{P}-mode", "value"),
    Input(f"{P}-slider", "value"),
    State(f"{P}-city-key", "data"),
    running=[(Output(f"{P}-busy-panels", "data"), True, False)],
    prevent_initial_call=True,  # the layout holds the first answer
)
def refresh_panels(_n: int, mode: str, step: int, city: str):
    """The panels' data (pages/_live.py), not components: the browser writes it into the drawn cards."""
    return _panels(get_city(city).key, mode, step)


def _panels(city: str, mode: str, step: int, watch: bool = True):
    at = access.resolve_at(mode, step)
    window = access.history_window()
    future = mode == "history" and isinstance(step, int) and step > window.steps
    # A forecast step: the KPIs' forecast for the moment the map shows (as `_forecast_answer` places it).
    target = window.last_bucket + min(step - window.steps, access.FORECAST_STEPS) * access.B if future else None
    forecast_alerts = int(time.time()) if mode != "history" or future else None
    shown = None if mode != "history" else at  # live: data.live_now's view
    return panel_data(city, shown, target, FORECAST_REASONS, forecast_alerts, watch)


@callback(
    Output(f"{P}-trend-key", "data"),
    Input(f"{P}-kpi-pick", "data"),
    Input(f"{P}-trend-close", "n_clicks"),
    State(f"{P}-trend-key", "data"),
    prevent_initial_call=True,
)
def choose_trend(pick: Any, _close: int | None, current: str | None):
    """A click on a card opens its chart (a second click closes it). `pick` is what the browser wrote,
    {key, n}: only a whole KPI key is taken from it."""
    if ctx.triggered_id == f"{P}-trend-close":
        return None
    key = pick.get("key") if isinstance(pick, dict) else None
    if not isinstance(key, str) or key not in HIGHER_IS_WORSE:
        return no_update
    return None if key == current else key


@callback(
    Output(f"{P}-trend-panel", "hidden"),
    Output(f"{P}-trend-body", "children"),
    Input(f"{P}-trend-key", "data"),
    Input("app-lang", "data"),
    Input("app-theme", "data"),
    State(f"{P}-city-key", "data"),
    State(f"{P}-mode", "value"),
    State(f"{P}-slider", "value"),
    prevent_initial_call=True,  # the layout opens with the panel hidden and empty
)
def show_trend(key: str | None, lang: str | None, theme: str | None, city: str, mode: str, step: int):
    if key not in HIGHER_IS_WORSE:
        return True, []
    city, at = get_city(city).key, access.resolve_at(mode, step)
    try:
        trend = access.kpi_trends(city, at)
        current = next((k.value for k in access.kpis(city, at) if k.key == key), None)
    except Exception:
        log.exception("KPI chart failed for %s %s", city, key)
        return False, error_panel(("chart", "图表"))
    lang, theme = "zh" if lang == "zh" else "en", "dark" if theme == "dark" else "light"
    return False, chart_panel(P, key, trend, current, lang, theme, CST)


dash.page_registry[__name__]["preload"] = preload

register_live_refresh(P)
# Sensors registered by feeds since the page loaded: the geometry version moved, so the three sensor
# layers fetch their geometry again (once), and the "no sensors yet" note goes once there are some.
clientside_callback(
    """function (data, roads, parking, air) {
        const nu = window.dash_clientside.no_update;
        if (!data || !data.geo) { return [nu, nu, nu, nu]; }
        const swap = (url) => {
            if (!url) { return nu; }
            const next = url.replace(/([?&]v=)[^&]*/, "$1" + encodeURIComponent(data.geo));
            return next === url ? nu : next;
        };
        const n = ["traffic", "parking", "air_quality"].reduce((s, k) => s + ((data[k] && data[k].n) || 0), 0);
        return [swap(roads), swap(parking), swap(air), n > 0 ? true : nu];
    }""",
    Output(f"{P}-map-traffic", "url"),
    Output(f"{P}-map-parking", "url"),
    Output(f"{P}-map-air", "url"),
    Output(f"{P}-map-empty", "hidden"),
    Input(f"{P}-live", "data"),
    State(f"{P}-map-traffic", "url"),
    State(f"{P}-map-parking", "url"),
    State(f"{P}-map-air", "url"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("citybrain", "applyOverlays"),  # no output: it shows or hides the incidents
    Input(f"{P}-map-layers", "overlays"),
    State(f"{P}-overlay-name", "data"),
)
