"""City comparison (/pilots/cities): two to six of the report's leading cities side by side (tables
2.3–2.9), each next to its live command-centre KPIs (simulated).

Filter in the URL: ``?cities=beijing,shanghai`` (default: all six).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
from dash import MATCH, Input, Output, callback, dcc, html, no_update

from components.i18n import t
from components.report_charts import GRAPH_CONFIG, city_scores, start_years
from components.report_city import city_column, comparison_rows, leaders, live_rows
from components.report_grid import Col, report_grid
from components.report_ui import (
    contradiction_notes,
    filter_dropdown,
    ignored_values,
    option,
    query_string,
    report_page,
    split_param,
)
from data import access
from data import report as rd
from data.rules.clock import local_label

dash.register_page(
    __name__,
    path="/pilots/cities",
    name="City comparison",
    title="City Brain · City comparison",
    order=11,
    access="public",
    id_prefix="pcity",
)

P = "pcity"
log = logging.getLogger(__name__)
LIVE_REFRESH_MS = 30_000
COLUMNS = [
    Col("city", ("City", "城市"), "city_en", "city_zh", width=150, pinned=True),
    Col("start", ("Started", "启动年份"), "start", kind="number", width=100),
    Col("plans", ("Key plans and policies", "重点政策文件"), "plans_en", "plans_zh", flex=3, wrap=True),
    Col("focus", ("Focus areas", "技术重点"), "focus_en", "focus_zh", flex=2, wrap=True),
    Col("yiou", ("Yiou score", "亿欧评分"), "yiou_en", "yiou_zh", width=150, wrap=True),
    Col("deloitte", ("Deloitte index", "德勤指数"), "deloitte_en", "deloitte_zh", width=150, wrap=True),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=130, wrap=True),
    Col("live", ("Live command centre", "实时指挥中心"), "live_en", "live_zh", kind="markdown", width=190),
]


def _selection(cities: str | None) -> tuple[list[str], list[str]]:
    requested = split_param(cities)
    known = rd.report_cities()
    keys = [c for c in requested if c in known] if requested else list(known)
    return list(dict.fromkeys(keys))[:6], [c for c in requested if c not in known]


def layout(cities: str | None = None, **_query: Any) -> html.Div:
    keys, unknown = _selection(cities)
    systems = rd.score_systems()
    return report_page(
        P,
        "/pilots/cities",
        ("City comparison: the six leading smart cities", "城市对比：六个领先智慧城市"),
        (
            "Choose two to six cities. Report figures come from tables 2.3–2.9 and sections 2.1.5–2.1.10; "
            "the live KPIs beside them come from each city's command centre and are simulated.",
            "选择 2 至 6 个城市。报告数据来自表 2.3–2.9 及第 2.1.5–2.1.10 节；"
            "旁边的实时指标来自各城市指挥中心，为模拟数据。",
        ),
        [
            dcc.Interval(id=f"{P}-tick", interval=LIVE_REFRESH_MS),
            html.Div(
                filter_dropdown(
                    f"{P}-cities",
                    ("Cities", "城市"),
                    [option(c.key, c.name_en, c.name_zh) for c in rd.report_cities().values()],
                    keys,
                    placeholder="Choose cities · 选择城市",
                    clearable=False,
                ),
                className="rp-filters",
            ),
            ignored_values(unknown),
            html.Div(id=f"{P}-count-warning"),
            html.Div(id=f"{P}-leaders"),
            html.Div(
                [
                    dcc.Graph(id=f"{P}-scores", config=GRAPH_CONFIG, className="rp-graph"),
                    dcc.Graph(id=f"{P}-years", config=GRAPH_CONFIG, className="rp-graph"),
                ],
                className="rp-two",
            ),
            html.Div(id=f"{P}-columns", className="rp-city-grid"),
            report_grid(
                f"{P}-table",
                COLUMNS,
                title=("Side by side (tables 2.3–2.9)", "并列对比（表 2.3–2.9）"),
                filename="six-cities-tables-2.3-2.9",
            ),
            contradiction_notes(rd.contradictions_for("cities", "")),
            html.P(
                t(
                    f"Scores: {systems['yiou'].name_en}; {systems['deloitte'].name_en}. {systems['yiou'].note_en} "
                    f"{systems['deloitte'].note_en}",
                    f"评分：{systems['yiou'].name_zh}；{systems['deloitte'].name_zh}。{systems['yiou'].note_zh}"
                    f"{systems['deloitte'].note_zh}",
                ),
                className="rp-footnote",
            ),
        ],
    )


@callback(Output(f"{P}-url", "search"), Input(f"{P}-cities", "value"), prevent_initial_call=True)
def cities_to_url(keys: list[str] | None) -> str:
    keys = keys or []
    return query_string({"cities": keys if len(keys) < len(rd.report_cities()) else []})


@callback(
    Output(f"{P}-count-warning", "children"),
    Output(f"{P}-leaders", "children"),
    Output(f"{P}-columns", "children"),
    Output({"type": "rg-grid", "key": f"{P}-table"}, "rowData"),
    Input(f"{P}-cities", "value"),
)
def compare(keys: list[str] | None):
    """The side-by-side view; language-free (text switches in CSS), so a language switch keeps the live KPIs."""
    keys = _chosen(keys)
    warning = (
        html.Div(
            t("Choose at least two cities to compare.", "请至少选择两个城市进行对比。"),
            className="rp-warning",
            role="status",
        )
        if len(keys) < 2
        else None
    )
    cities = [rd.report_city(k) for k in keys]
    systems = rd.score_systems()
    cat = rd.catalogue()
    best = {s: rd.highest_score(keys, s) for s in systems}
    return (
        warning,
        leaders(rd.first_started(keys), best, systems, cat.report_cities, cat.tables) if keys else None,
        [city_column(c, systems, rd.contradictions_for("cities", c.key), cat.tables) for c in cities],
        comparison_rows(cities),
    )


@callback(
    Output(f"{P}-scores", "figure"),
    Output(f"{P}-years", "figure"),
    Input(f"{P}-cities", "value"),
    Input("app-lang", "data"),
    Input("app-theme", "data"),
)
def charts(keys: list[str] | None, lang: str | None, theme: str | None):
    cities = [rd.report_city(k) for k in _chosen(keys)]
    pairs = {k: (s.short_en, s.short_zh) for k, s in rd.score_systems().items()}
    return city_scores(cities, pairs, lang or "zh", theme or "light"), start_years(
        cities, lang or "zh", theme or "light"
    )


def _chosen(keys: list[str] | None) -> list[str]:
    known = rd.report_cities()
    return [k for k in (keys or []) if k in known][:6]


@callback(
    Output({"type": "pcity-live", "city": MATCH}, "children"),
    Output({"type": "pcity-live-time", "city": MATCH}, "children"),
    Input({"type": "pcity-live-key", "city": MATCH}, "data"),
    Input(f"{P}-tick", "n_intervals"),
)
def live_kpis(city: str, _n: int | None):
    """The city's current command-centre KPIs (simulated), through data.access like the command centre."""
    if not city:
        return no_update, no_update
    at = int(time.time())
    report_city = rd.report_city(city)
    try:
        values = {k["key"]: k for k in access.kpi_dicts(access.kpis(city, at))}
    except Exception:
        log.exception("live KPIs failed for %s", city)
        return live_rows(report_city, None, error=True), None
    stamp = local_label(at)
    return live_rows(report_city, values), t(
        f"Live values at {stamp} China Standard Time, simulated (see README); refreshed every 30 s.",
        f"实时数值：北京时间 {stamp}，模拟数据（见 README）；每 30 秒刷新。",
    )
