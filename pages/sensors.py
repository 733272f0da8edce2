"""The sensor registry (/sensors, operators and up): per city and layer how many sensors by source
(simulated / feed / import) and how many are stale; each sensor's whole id, name, source, first and
last reading, newest value and whether it is stale (data/rules/staleness.py); filter and search;
"show on map" opens the command centre at street zoom on the sensor (a road segment: its midpoint);
an administrator retires a sensor (it leaves the map and the KPIs, its history stays)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import dash
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from auth import current_user
from components.i18n import LAYERS, t
from data import access
from data.geo.cities import CITIES, city_or_default
from data.rules.aqi import UNITS
from data.rules.clock import local_label
from data.rules.staleness import is_stale
from data.rules.workflow import role_at_least

dash.register_page(
    __name__,
    path="/sensors",
    name="Sensors",
    title="City Brain · Sensors",
    nav=("Sensors", "传感器"),
    order=6,
    access="operator",
    id_prefix="sr",
)

log = logging.getLogger(__name__)
P = "sr"
SOURCES = {"simulated": ("Simulated", "模拟"), "feed": ("Feed", "数据接入"), "import": ("Import", "导入")}
SENSOR_LAYERS = ("traffic", "parking", "air_quality")
MAX_ROWS = 200
MAX_QUERY = 100  # a search box's text is bounded before it is matched
STREET_ZOOM = 17  # "show on map": the command centre's view at street level on the sensor
STATES = {"stale": ("Stale", "数据中断"), "reporting": ("Reporting", "正常上报")}
POLLUTANT_NAMES = {"pm25": "PM2.5", "pm10": "PM10", "o3": "O₃", "no2": "NO₂", "so2": "SO₂", "co": "CO"}


def layout(city: str | None = None, **_query: Any) -> html.Div:
    info = city_or_default(city)
    frame = access.sensor_registry(info.key)
    # A city with sensors of its own opens on them; an all-simulated one on everything (not an empty list).
    fed = bool(len(frame)) and bool((frame["source"] != "simulated").any())
    return html.Div(
        [
            dcc.Store(id=f"{P}-city", data=info.key),
            dcc.Store(id=f"{P}-done", data=0),
            html.H1([t("Sensors", "传感器"), " · ", t(info.name_en, info.name_zh)], className="page-title"),
            html.Div(
                [
                    html.A(t(c.name_en, c.name_zh), href=f"/sensors?city={c.key}", className="nav-link")
                    for c in CITIES.values()
                ],
                className="nav",
            ),
            html.Section([html.H2(t("Sensors by source", "按来源统计")), _counts(frame)], className="panel"),
            html.Section(
                [
                    html.H2(t("Registry", "传感器名录")),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=f"{P}-layer",
                                options=[
                                    {"label": LAYERS[k][0] + " · " + LAYERS[k][1], "value": k} for k in SENSOR_LAYERS
                                ],
                                placeholder="Layer · 图层",
                            ),
                            dcc.Dropdown(
                                id=f"{P}-source",
                                options=[{"label": f"{en} · {zh}", "value": k} for k, (en, zh) in SOURCES.items()],
                                value="feed" if fed else None,
                                placeholder="Source · 来源",
                            ),
                            dcc.Dropdown(
                                id=f"{P}-state",
                                options=[{"label": f"{en} · {zh}", "value": k} for k, (en, zh) in STATES.items()],
                                placeholder="State · 状态",
                            ),
                            dcc.Input(
                                id=f"{P}-search",
                                type="search",
                                placeholder="id / name · 编号/名称",
                                debounce=True,
                                maxLength=MAX_QUERY,
                            ),
                        ],
                        className="toolbar",
                    ),
                    html.Div(id=f"{P}-table"),
                ],
                className="panel",
            ),
            html.Section(
                [
                    html.H2(t("Retire a sensor (administrators)", "停用传感器（管理员）")),
                    dcc.Input(id=f"{P}-retire-id", type="text", placeholder="urn:ngsi-ld:…", maxLength=256),
                    html.Button(t("Retire", "停用"), id=f"{P}-retire", className="btn"),
                    html.Div(id=f"{P}-retire-msg", role="status"),
                ],
                className="panel",
            ),
        ],
        className="sensor-registry",
    )


def _counts(frame: pd.DataFrame) -> html.Table:
    """Sensors in service per layer and source, and how many of them are stale now."""
    live = with_stale(frame[frame["retired_at"].isna()] if len(frame) else frame, time.time())
    head = html.Tr(
        [html.Th(t("Layer", "图层")), *(html.Th(t(*pair)) for pair in SOURCES.values()), html.Th(t(*STATES["stale"]))]
    )
    rows = []
    for layer in SENSOR_LAYERS:
        mine = live[live["layer"] == layer] if len(live) else live
        cells = [str(int((mine["source"] == source).sum())) if len(mine) else "0" for source in SOURCES]
        cells.append(str(int(mine["stale"].sum())) if len(mine) else "0")
        rows.append(html.Tr([html.Td(t(*LAYERS[layer])), *(html.Td(c) for c in cells)]))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="table")


def _when(value: Any) -> str:
    return "" if value is None or pd.isna(value) else local_label(int(value))


def with_stale(frame: pd.DataFrame, now: float) -> pd.DataFrame:
    """The registry with a `stale` column judged at `now` (no reading for longer than the layer's rule)."""
    stale = [
        is_stale(layer, None if pd.isna(last) else float(last), now)
        for layer, last in zip(frame["layer"], frame["last_seen"], strict=True)
    ]
    return frame.assign(stale=pd.Series(stale, index=frame.index, dtype=bool))


def sensor_rows(
    frame: pd.DataFrame, layer: str | None, source: str | None, search: str | None, state: str | None = None
) -> pd.DataFrame:
    """The registry (with `stale`) filtered by layer, source, state (stale / reporting) and a plain-text
    search of id and name (no regex; the text is cut to MAX_QUERY characters first)."""
    if layer:
        frame = frame[frame["layer"] == layer]
    if source:
        frame = frame[frame["source"] == source]
    if state in STATES:
        frame = frame[frame["stale"] == (state == "stale")]
    text = (search or "")[:MAX_QUERY].strip().lower()
    if text:
        hit = frame["source_id"].str.lower().str.contains(text, regex=False) | frame["name"].astype(str).str.lower(
        ).str.contains(text, regex=False)  # fmt: skip
        frame = frame[hit]
    return frame


def map_href(city: str, lat: float, lon: float) -> str:
    """The command centre's address with its view on this place at street zoom (`?city&z&lat&lon`)."""
    return "/?" + urlencode({"city": city, "z": STREET_ZOOM, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}"})


def newest_value(r: Any) -> Any:
    """The newest reading with its unit: speed, occupied of capacity, or the first pollutant reported."""
    if r.value is None or pd.isna(r.value):
        return ""
    if r.measure == "speed_kmh":
        return f"{r.value:.1f} km/h"
    if r.measure == "occupied":
        return t(f"{int(r.value)} / {int(r.capacity)} occupied", f"已占用 {int(r.value)} / {int(r.capacity)}")
    return f"{POLLUTANT_NAMES.get(r.measure, r.measure)} {r.value:g} {UNITS.get(r.measure, '')}"


def _state(r: Any) -> html.Span:
    if not pd.isna(r.retired_at):
        return t("retired", "已停用")
    if r.stale:
        return t("stale", "数据中断", className="stale-flag")
    return t("reporting", "正常上报")


@callback(
    Output(f"{P}-table", "children"),
    Input(f"{P}-layer", "value"),
    Input(f"{P}-source", "value"),
    Input(f"{P}-search", "value"),
    Input(f"{P}-state", "value"),
    Input(f"{P}-done", "data"),
    State(f"{P}-city", "data"),
)
def refresh(layer: Any, source: Any, search: Any, state: Any, _done: Any, city: Any):
    key = city_or_default(city if isinstance(city, str) else None).key
    frame = with_stale(access.sensor_registry(key), time.time())
    found = sensor_rows(
        frame,
        layer if isinstance(layer, str) and layer in SENSOR_LAYERS else None,
        source if isinstance(source, str) and source in SOURCES else None,
        search if isinstance(search, str) else None,
        state if isinstance(state, str) else None,
    )
    if found.empty:
        return html.P(t("No sensor matches.", "没有符合条件的传感器。"), className="muted")
    head = html.Tr(
        [
            html.Th(t("Layer", "图层")),
            html.Th(t("Id", "编号")),
            html.Th(t("Name", "名称")),
            html.Th(t("Source", "来源")),
            html.Th(t("First seen", "首次上报")),
            html.Th(t("Last seen", "最近上报")),
            html.Th(t("Newest value", "最新读数")),
            html.Th(t("State", "状态")),
            html.Th(""),
        ]
    )
    rows = [
        html.Tr(
            [
                html.Td(t(*LAYERS[r.layer])),
                html.Td(html.Code(r.source_id)),
                html.Td(str(r.name)),
                html.Td(t(*SOURCES.get(r.source, (r.source, r.source)))),
                html.Td(_when(r.first_seen)),
                html.Td(_when(r.last_seen)),
                html.Td(newest_value(r)),
                html.Td(_state(r)),
                html.Td(html.A(t("show on map", "地图上查看"), href=map_href(key, r.lat, r.lon))),
            ],
            className="stale" if r.stale and pd.isna(r.retired_at) else None,
        )
        for r in found.head(MAX_ROWS).itertuples(index=False)
    ]
    more = len(found) - MAX_ROWS
    note = html.P(t(f"… and {more} more: search to narrow", f"……另有 {more} 个，请搜索缩小范围"), className="muted")
    return [html.Table([html.Thead(head), html.Tbody(rows)], className="table"), note if more > 0 else None]


@callback(
    Output(f"{P}-retire-msg", "children"),
    Output(f"{P}-done", "data"),
    Input(f"{P}-retire", "n_clicks"),
    State(f"{P}-retire-id", "value"),
    State(f"{P}-done", "data"),
    prevent_initial_call=True,
)
def retire(_clicks: int | None, source_id: str | None, done: int | None):
    user = current_user()  # the role from the server-side session, never from the request
    if user is None or not role_at_least(user.role, "admin"):
        return t("Retiring a sensor needs the admin role.", "停用传感器需要管理员权限。"), dash.no_update
    if not isinstance(source_id, str) or not 0 < len(source_id.strip()) <= 256:
        return t("Enter the sensor's whole id.", "请输入传感器的完整编号。"), dash.no_update
    found = access.retire_sensor(source_id.strip(), user.name)
    if found is None:
        return t("No sensor in service has this id.", "没有在用的传感器使用此编号。"), dash.no_update
    layer, city, _key = found
    return t(f"Retired ({city}, {LAYERS[layer][0]}).", f"已停用（{city}，{LAYERS[layer][1]}）。"), (done or 0) + 1
