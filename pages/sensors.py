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
from components.report_grid import GRID, Col, report_grid
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
# The grid draws only the rows in view, so many can be sent; a scaled city (100k segments) still needs a cap.
MAX_ROWS = 2000
GRID_KEY = "sr-sensors"
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
                    report_grid(GRID_KEY, COLUMNS, height=520, filename=f"sensors-{info.key}"),
                    html.Div(id=f"{P}-table", role="status"),
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


def newest_value(r: Any) -> tuple[str, str]:
    """The newest reading with its unit (English, Chinese): speed, occupied of capacity, or the first
    pollutant reported."""
    if r.value is None or pd.isna(r.value):
        return "", ""
    if r.measure == "speed_kmh":
        return (f"{r.value:.1f} km/h",) * 2
    if r.measure == "occupied":
        return f"{int(r.value)} / {int(r.capacity)} occupied", f"已占用 {int(r.value)} / {int(r.capacity)}"
    return (f"{POLLUTANT_NAMES.get(r.measure, r.measure)} {r.value:g} {UNITS.get(r.measure, '')}",) * 2


def _state(r: Any) -> tuple[str, str]:
    if not pd.isna(r.retired_at):
        return "retired", "已停用"
    return STATES["stale"] if r.stale else STATES["reporting"]


def sensor_record(r: Any, city: str) -> dict[str, Any]:
    """One registry row as the grid shows it, in both languages. Ids and names are the feed's own
    text, shown as plain text; only the map link (built here) is Markdown."""
    value_en, value_zh = newest_value(r)
    state_en, state_zh = _state(r)
    href = map_href(city, r.lat, r.lon) if not (pd.isna(r.lat) or pd.isna(r.lon)) else None
    source_en, source_zh = SOURCES.get(r.source, (r.source, r.source))
    return {
        "layer_en": LAYERS[r.layer][0],
        "layer_zh": LAYERS[r.layer][1],
        "source_id": r.source_id,
        "name": "" if r.name is None or pd.isna(r.name) else str(r.name),
        "source_en": source_en,
        "source_zh": source_zh,
        "first_seen": _when(r.first_seen),
        "last_seen": _when(r.last_seen),
        "value_en": value_en,
        "value_zh": value_zh,
        "state_en": state_en.lower(),
        "state_zh": state_zh,
        "stale": bool(r.stale) and pd.isna(r.retired_at),
        "map_en": f"[show on map]({href})" if href else "",
        "map_zh": f"[地图上查看]({href})" if href else "",
    }


STALE_CELL = {"stale-flag": "params.data.stale"}  # an expression dash-ag-grid evaluates per row
COLUMNS = [
    Col("layer", ("Layer", "图层"), "layer_en", "layer_zh", width=100),
    Col("id", ("Id", "编号"), "source_id", flex=3, extra={"cellClass": "sr-id", "tooltipField": "source_id"}),
    Col("name", ("Name", "名称"), "name", flex=2),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=105),
    Col("first", ("First seen", "首次上报"), "first_seen", width=145),
    Col("last", ("Last seen", "最近上报"), "last_seen", width=145),
    Col("value", ("Newest value", "最新读数"), "value_en", "value_zh", width=170),
    Col("state", ("State", "状态"), "state_en", "state_zh", width=120, extra={"cellClassRules": STALE_CELL}),
    Col("map", ("Map", "地图"), "map_en", "map_zh", kind="markdown", width=120),
]


@callback(
    Output({"type": GRID, "key": GRID_KEY}, "rowData"),
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
        return [], html.P(t("No sensor matches.", "没有符合条件的传感器。"), className="muted")
    rows = [sensor_record(r, key) for r in found.head(MAX_ROWS).itertuples(index=False)]
    more = len(found) - MAX_ROWS
    if more <= 0:
        return rows, None
    return rows, html.P(
        t(f"… and {more:,} more: filter or search to narrow", f"……另有 {more:,} 个，请筛选或搜索缩小范围"),
        className="muted",
    )


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
