"""Model quality (/model-quality): how each forecast scored against the naive baselines on held-back days,
when it was fitted and on how much data, its skill over time, and forecast against actual for one sensor.

The forecasts are fitted by the background job (data/jobs/forecasting.py); this page only reads.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html

from components.city_pages import city_nav, panel_section
from components.forecast_outlook import outlook_panel
from components.i18n import LAYERS, t
from components.kpi import error_panel
from data import access
from data.geo.cities import CITIES, city_or_default, get_city
from data.rules.clock import CST, local_label

dash.register_page(
    __name__,
    path="/model-quality",
    name="Model quality",
    title="City Brain · Model quality",
    nav=("Model quality", "模型质量"),
    order=6,
    access="operator",
    id_prefix="mq",
)

log = logging.getLogger(__name__)
P = "mq"
LAYER_ORDER = ("parking", "traffic", "air_quality", "aqi_outlook")
TRACKED_LAYERS = LAYER_ORDER[:3]  # next-hour forecasts are tracked; the 25-72 h outlook has none
AQI_LAYERS = ("air_quality", "aqi_outlook")
NAMES = {
    "parking": LAYERS["parking"],
    "traffic": LAYERS["traffic"],
    "air_quality": ("Air quality +1–24 h", "空气质量 1–24 小时"),
    "aqi_outlook": ("Air quality +25–72 h", "空气质量 25–72 小时"),
}
UNITS = {
    "parking": ("free spaces", "空余车位"),
    "traffic": ("congestion index", "拥堵指数"),
    "air_quality": ("AQI", "AQI"),
    "aqi_outlook": ("AQI", "AQI"),
}
BASELINES = {
    "persistence": ("Persistence", "持续法"),
    "yesterday": ("Same time yesterday", "昨日同时"),
    "last_week": ("Same time last week", "上周同时"),
}
TRACK_HOURS = 36
COLORS = {"parking": "#1c7ed6", "traffic": "#e8590c", "air_quality": "#2b8a3e", "aqi_outlook": "#845ef7"}


def layout(city: str | None = None, **_query: Any) -> html.Div:
    info = city_or_default(city)
    return html.Div(
        [
            dcc.Store(id=f"{P}-city", data=info.key),
            dcc.Interval(id=f"{P}-refresh", interval=60_000),
            html.H1([t("Model quality", "模型质量"), " · ", t(info.name_en, info.name_zh)], className="page-title"),
            html.P(
                t(
                    "Each layer's forecast is refitted by the background job and scored on the newest held-back "
                    "days it never saw, against persistence, the same time yesterday and the same time last week. "
                    "Skill = 1 − MAE / MAE of the better baseline; a layer whose model does not beat it serves no "
                    "forecast. Learnt only from stored observations (here SIMULATED).",
                    "各图层的预测模型由后台任务定期重新训练，并在其未见过的最近保留日上评估，对照持续法、昨日同时与"
                    "上周同时。技巧分 = 1 − MAE / 较优基准的 MAE；未能胜过基准的图层不提供预测。仅从已存储的观测"
                    "（此处为模拟数据）学习。",
                ),
                className="muted",
            ),
            city_nav("/model-quality", CITIES.values()),
            panel_section(("Backtest per layer and city", "各图层与城市的回测"), f"{P}-table"),
            panel_section(("Air-quality outlook, next three days", "未来三天空气质量展望"), f"{P}-outlook"),
            panel_section(("Skill over time", "技巧分随时间变化"), f"{P}-skill"),
            html.Section(
                [
                    html.H2(t("Next-hour forecast against what happened", "未来一小时预测与实际对比")),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=f"{P}-layer",
                                options=[
                                    {"label": LAYERS[k][0] + " · " + LAYERS[k][1], "value": k} for k in TRACKED_LAYERS
                                ],
                                value="parking",
                                clearable=False,
                                style={"minWidth": "220px"},
                            ),
                            dcc.Dropdown(id=f"{P}-sensor", clearable=False, style={"minWidth": "260px"}),
                        ],
                        className="toolbar",
                        style={"display": "flex", "gap": "12px"},
                    ),
                    html.Div(id=f"{P}-track"),
                ],
                className="panel",
            ),
        ],
        className="model-quality",
    )


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _digits(layer: str) -> int:
    return 3 if layer == "traffic" else 1


def backtest_table(fits: list[dict[str, Any]], city: str) -> html.Div:
    """The newest fit of every city's layer; the page's city first."""
    if not fits:
        return html.Div(
            t(
                "No model fitted yet: the background job fits every FORECAST_MINUTES once a store holds two days.",
                "尚无模型：后台任务每 FORECAST_MINUTES 分钟训练一次，需要至少两天的存储数据。",
            ),
            className="muted",
        )
    fits = [f for f in fits if f["layer"] in LAYER_ORDER]
    ordered = sorted(fits, key=lambda f: (f["city"] != city, f["city"], LAYER_ORDER.index(f["layer"])))
    header = [
        t("Layer", "图层"),
        t("City", "城市"),
        t("Model", "模型"),
        t("Fitted", "训练时间"),
        t("History (days)", "历史（天）"),
        t("Training rows", "训练样本"),
        t("MAE", "MAE"),
        *(t(*BASELINES[b]) for b in BASELINES),
        t("Skill", "技巧分"),
        t("AQI level hit rate", "AQI 等级命中率"),
        t("80 % interval coverage", "80% 区间覆盖率"),
        t("Scored", "评估数"),
        t("Forecast", "预测"),
    ]
    body = []
    for f in ordered:
        d = _digits(f["layer"])
        baselines = f["baselines"]
        info = CITIES.get(f["city"])
        verdict = (
            t("Served", "已提供", className="mq-served")
            if f["served"]
            else t("No forecast: baseline better", "无预测：基准更优", className="mq-baseline")
        )
        body.append(
            html.Tr(
                [
                    html.Td([t(*NAMES[f["layer"]]), html.Br(), t(*UNITS[f["layer"]], className="muted")]),
                    html.Td(t(info.name_en, info.name_zh) if info else f["city"]),
                    html.Td(f["model"]),
                    html.Td(local_label(int(f["fitted_at"]))),
                    html.Td(_fmt((f["history_to"] - f["history_from"]) / 86400, 1)),
                    html.Td(f"{int(f['train_rows']):,}" if f["train_rows"] else "–"),
                    html.Td(_fmt(f["mae"], d)),
                    *(
                        html.Td(
                            _fmt(baselines.get(b), d),
                            className="mq-better" if b == f["better"] else None,
                        )
                        for b in BASELINES
                    ),
                    html.Td(_fmt(f["skill"], 3)),
                    html.Td(_fmt(None if f["hit_rate"] is None else f["hit_rate"] * 100, 0) + " %"
                            if f["layer"] in AQI_LAYERS else "–"),
                    html.Td(_fmt(None if f["coverage"] is None else f["coverage"] * 100, 0) + " %"),
                    html.Td(f"{int(f['n']):,}"),
                    html.Td(verdict),
                ],
                className="mq-city" if f["city"] == city else None,
            )
        )  # fmt: skip
    return html.Div(
        [
            html.Table([html.Thead(html.Tr([html.Th(h) for h in header])), html.Tbody(body)], className="data-table"),
            html.P(
                t(
                    "The better baseline's MAE is underlined. MAE in free spaces (parking), congestion index "
                    "(traffic), AQI (air quality). Same time last week needs a week more than the horizon stored.",
                    "较优基准的 MAE 加下划线。MAE 单位：空余车位（停车）、拥堵指数（交通）、AQI（空气质量）。"
                    "上周同时需要存储超过一周加预测时长的数据。",
                ),
                className="muted",
            ),
        ]
    )


def _figure(height: int = 260) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        height=height,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.15},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def skill_chart(history: list[dict[str, Any]], city: str) -> html.Div:
    rows = [h for h in history if h["city"] == city and h["skill"] is not None]
    if not rows:
        return html.Div(t("No fits in the last days.", "近几天没有训练记录。"), className="muted")
    figure = _figure()
    for layer in LAYER_ORDER:
        mine = sorted((h for h in rows if h["layer"] == layer), key=lambda h: h["fitted_at"])
        if mine:
            figure.add_scatter(
                x=[local_label(int(h["fitted_at"])) for h in mine],
                y=[h["skill"] for h in mine],
                mode="lines+markers",
                name=NAMES[layer][0],
                line={"color": COLORS[layer]},
            )
    figure.add_hline(y=0, line_dash="dot", line_color="#868e96")
    figure.update_yaxes(title_text="skill")
    return html.Div(dcc.Graph(figure=figure, config={"displayModeBar": False}))


def track_chart(track: dict[str, Any], layer: str) -> html.Div:
    if not track["forecast"]:
        return html.Div(
            t(
                "No forecast tracked for this sensor yet (only served layers are tracked, for 20 sensors each).",
                "该传感器尚无预测记录（仅跟踪已提供预测的图层，每层 20 个传感器）。",
            ),
            className="muted",
        )
    figure = _figure(300)
    fc = track["forecast"]
    x = [local_label(int(r["target"])) for r in fc]
    figure.add_scatter(
        x=x, y=[r["high"] for r in fc], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
    )
    figure.add_scatter(
        x=x,
        y=[r["low"] for r in fc],
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(28,126,214,0.18)",
        name="80 % interval",
    )
    figure.add_scatter(x=x, y=[r["value"] for r in fc], mode="lines+markers", line={"dash": "dash", "color": "#1c7ed6"},
                       name="forecast made 1 h before")  # fmt: skip
    actual = track["actual"]
    figure.add_scatter(
        x=[local_label(int(r["t"])) for r in actual],
        y=[r["v"] for r in actual],
        mode="lines",
        line={"color": "#212529"},
        name="observed",
    )
    figure.update_yaxes(title_text=UNITS[layer][0])
    return html.Div(
        [html.Div(track["name"], className="muted"), dcc.Graph(figure=figure, config={"displayModeBar": False})]
    )


def outlook_view(outlook: dict[str, Any], fits: list[dict[str, Any]], city: str) -> html.Div:
    """The outlook as the command centre shows it, and how often the 25-72 h model named the right HJ 633
    level in its backtest."""
    fit = next((f for f in fits if f["city"] == city and f["layer"] == "aqi_outlook"), None)
    hit = None if fit is None or fit["hit_rate"] is None else f"{fit['hit_rate'] * 100:.0f} %"
    return html.Div(
        [
            outlook_panel(outlook, CST),
            html.P(
                t(
                    f"HJ 633 level hit rate of the city's daily outlook (+25–72 h model, held-back days): "
                    f"{hit or '–'}. A day is the mean of its forecast hours of the stations' mean AQI.",
                    f"城市每日展望的 HJ 633 等级命中率（25–72 小时模型，保留日）：{hit or '–'}。"
                    "每日数值为各预测小时站点平均 AQI 的均值。",
                ),
                className="muted",
            ),
        ]
    )


@callback(
    output=[Output(f"{P}-{part}", "children") for part in ("table", "skill", "outlook")],
    inputs=[Input(f"{P}-refresh", "n_intervals")],
    state=[State(f"{P}-city", "data")],
)
def refresh(_n: int | None, city: str):
    now, city = int(time.time()), get_city(city).key
    try:
        quality = access.model_quality(now - 7 * 86400)
        table, skill = backtest_table(quality["latest"], city), skill_chart(quality["history"], city)
        return table, skill, outlook_view(access.forecast_outlook(city), quality["latest"], city)
    except Exception:
        log.exception("model quality panel failed")
        return error_panel(("backtest", "回测")), error_panel(("skill", "技巧分")), error_panel(("outlook", "展望"))


@callback(
    Output(f"{P}-sensor", "options"),
    Output(f"{P}-sensor", "value"),
    Input(f"{P}-layer", "value"),
    State(f"{P}-city", "data"),
)
def sensors(layer: str | None, city: str):
    if layer not in TRACKED_LAYERS:
        return [], None
    ids = access.tracked_sensors(get_city(city).key, layer)
    return [{"label": f"#{i}", "value": i} for i in ids], (ids[0] if ids else None)


@callback(
    Output(f"{P}-track", "children"),
    Input(f"{P}-sensor", "value"),
    Input(f"{P}-refresh", "n_intervals"),
    State(f"{P}-layer", "value"),
    State(f"{P}-city", "data"),
)
def track(sensor: Any, _n: int | None, layer: str | None, city: str):
    if layer not in TRACKED_LAYERS or not isinstance(sensor, int) or isinstance(sensor, bool):
        return html.Div(t("Choose a sensor.", "请选择传感器。"), className="muted")
    since = int(time.time()) - TRACK_HOURS * 3600
    try:
        return track_chart(access.forecast_track(get_city(city).key, layer, sensor, since), layer)
    except Exception:
        log.exception("forecast track failed")
        return error_panel(("forecast vs actual", "预测与实际"))
