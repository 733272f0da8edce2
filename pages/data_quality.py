"""Data quality (/data-quality): what the feeds delivered, what was rejected and why, stale sensors."""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html

from components.city_pages import city_nav, panel_section
from components.i18n import LAYERS, t
from components.kpi import error_panel
from data import access
from data.geo.cities import CITIES, city_or_default, get_city
from data.rules.clock import local_label

dash.register_page(
    __name__,
    path="/data-quality",
    name="Data quality",
    title="City Brain · Data quality",
    nav=("Data quality", "数据质量"),
    order=5,
    access="viewer",
    id_prefix="dq",
)

log = logging.getLogger(__name__)
P = "dq"
COLORS = {"accepted": "#2e9d4b", "duplicates": "#868e96", "rejected": "#d7301f"}


def layout(city: str | None = None, **_query: Any) -> html.Div:
    info = city_or_default(city)
    return html.Div(
        [
            dcc.Store(id=f"{P}-city", data=info.key),
            dcc.Interval(id=f"{P}-refresh", interval=30_000),
            html.H1([t("Data quality", "数据质量"), " · ", t(info.name_en, info.name_zh)], className="page-title"),
            html.P(
                t(
                    "Feeds arrive through POST /api/v1/ngsi/notify (FIWARE Orion) and /api/v1/ingest/<layer>; "
                    "rows are validated one by one and rejected rows are quarantined with their reason.",
                    "数据通过 /api/v1/ngsi/notify（FIWARE Orion）与 /api/v1/ingest/<图层> 接入；逐行校验，"
                    "被拒绝的行连同原因隔离保存。",
                ),
                className="muted",
            ),
            html.P(
                html.A(
                    t("Sensor registry: every sensor by source, retire a sensor", "传感器名录：按来源查看、停用传感器"),
                    href=f"/sensors?city={info.key}",
                )
            ),
            city_nav("/data-quality", CITIES.values()),
            panel_section(("Rows per feed, last 24 hours", "近 24 小时各数据源行数"), f"{P}-feeds"),
            panel_section(("Latest rejections", "最近被拒绝的数据"), f"{P}-rejections"),
            html.Section(
                [html.H2(t("Stale sensors", "数据过期的传感器")), html.Div(id=f"{P}-stale")], className="panel"
            ),
        ],
        className="data-quality",
    )


def _feeds_view(summary) -> html.Div:
    if summary.empty:
        return html.Div(
            t(
                "No feed has delivered rows in the last 24 hours (the map shows simulated data).",
                "近 24 小时没有数据源写入（地图显示模拟数据）。",
            ),
            className="muted",
        )
    totals = summary.groupby("layer")[["accepted", "duplicates", "rejected"]].sum().reset_index()
    table = html.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(t("Feed", "数据源")),
                        html.Th(t("Accepted", "接收")),
                        html.Th(t("Duplicates", "重复")),
                        html.Th(t("Rejected", "拒绝")),
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(t(*LAYERS.get(r.layer, (r.layer, r.layer)))),
                            html.Td(f"{r.accepted:,}"),
                            html.Td(f"{r.duplicates:,}"),
                            html.Td(f"{r.rejected:,}"),
                        ]
                    )
                    for r in totals.itertuples(index=False)
                ]
            ),
        ],
        className="data-table",
    )
    figure = go.Figure()
    for column, color in COLORS.items():
        per_bin = summary.groupby("bin")[column].sum()
        figure.add_bar(
            x=[local_label(int(b)) for b in per_bin.index], y=per_bin.to_numpy(), name=column, marker_color=color
        )
    figure.update_layout(
        barmode="stack",
        height=240,
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return html.Div([table, dcc.Graph(figure=figure, config={"displayModeBar": False})])


def _rejections_view(rows: list[dict[str, Any]]) -> html.Div:
    if not rows:
        return html.Div(t("No rejected rows.", "没有被拒绝的数据。"), className="muted")
    return html.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(t("Received", "接收时间")),
                        html.Th(t("Feed", "数据源")),
                        html.Th(t("Row", "行")),
                        html.Th("ID"),
                        html.Th(t("Reason", "原因")),
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(local_label(int(r["received_at"]))),
                            html.Td(r["layer"]),
                            html.Td(r["row_index"]),
                            html.Td(r["entity_id"]),
                            html.Td(r["reason"]),
                        ]
                    )
                    for r in rows
                ]
            ),
        ],
        className="data-table",
    )


def _stale_view(stale: dict[str, list[dict[str, Any]]]) -> html.Div:
    blocks = []
    for layer, items in stale.items():
        names = ", ".join(i["name"] for i in items[:8]) + (" …" if len(items) > 8 else "")
        blocks.append(
            html.Div([html.Strong(t(*LAYERS[layer])), f": {len(items)} ", html.Span(names, className="muted")])
        )
    return html.Div(blocks)


@callback(
    Output(f"{P}-feeds", "children"),
    Output(f"{P}-rejections", "children"),
    Output(f"{P}-stale", "children"),
    Input(f"{P}-refresh", "n_intervals"),
    State(f"{P}-city", "data"),
)
def refresh(_n: int, city: str):
    now, city = int(time.time()), get_city(city).key
    views = []
    for build, what in (
        (lambda: _feeds_view(access.ingest_summary(now - 86400)), ("feeds", "数据源")),
        (lambda: _rejections_view(access.latest_rejections(50)), ("rejections", "拒绝记录")),
        (lambda: _stale_view(access.stale_sensors(city, now)), ("stale sensors", "过期传感器")),
    ):
        try:
            views.append(build())
        except Exception:
            log.exception("data quality panel failed: %s", what[0])
            views.append(error_panel(what))
    return tuple(views)
