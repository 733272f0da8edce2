"""Shift handover (/handover): what was opened, closed and breached in a shift, and what is still open.

Printable (the browser's print; the header and buttons are hidden in print). Shifts are 8 hours,
starting 00:00, 08:00 and 16:00 China Standard Time.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, callback, clientside_callback, dcc, html

from components.i18n import t
from components.incident_ui import clock, handover_table
from data import access
from data.geo.cities import CITIES
from data.rules.clock import CST
from data.rules.tables import RULE_TABLES

dash.register_page(
    __name__,
    path="/handover",
    name="Shift handover",
    title="City Brain · Shift handover",
    nav=("Handover", "交接班"),
    order=2,
    access="operator",
    id_prefix="ho",
)

P = "ho"
SHIFTS_BACK = 9  # three days of shifts to choose from


def _shift_options(now: int) -> list[dict[str, Any]]:
    start, end = access.shift_bounds(now)
    length = end - start
    options = []
    for k in range(SHIFTS_BACK):
        s = start - k * length
        label = f"{clock(s, CST)[:5]} {access.shift_label(s)}"
        options.append({"label": (t(f"{label} (current)", f"{label}（本班）") if k == 0 else label), "value": s})
    return options


def layout(city: str | None = None, **_query: Any) -> html.Div:
    options = _shift_options(int(time.time()))
    cities = [{"label": t("All cities", "全部城市"), "value": "all"}] + [
        {"label": t(c.name_en, c.name_zh), "value": k} for k, c in CITIES.items()
    ]
    return html.Div(
        [
            html.Div(
                [
                    html.H1(t("Shift handover", "交接班报告"), className="page-title"),
                    dcc.Dropdown(
                        id=f"{P}-city", options=cities, value=city if city in CITIES else "hangzhou", clearable=False
                    ),
                    dcc.Dropdown(id=f"{P}-shift", options=options, value=options[0]["value"], clearable=False),
                    html.Button(t("Print", "打印"), id=f"{P}-print", className="btn btn-primary"),
                    html.Span(id=f"{P}-printed", hidden=True),
                ],
                className="toolbar",
            ),
            html.Div(id=f"{P}-report"),
        ],
        className="handover-page",
    )


@callback(Output(f"{P}-report", "children"), Input(f"{P}-city", "value"), Input(f"{P}-shift", "value"))
def report(city: str | None, shift_start: int) -> list[Any]:
    start = int(shift_start)
    end = min(access.shift_bounds(start)[1], int(time.time()))
    data = access.handover(None if city in (None, "all") else city, start, end)
    operator_open = [r for r in data["still_open"] if r["crew"] == "operator"]
    return [
        html.P(
            [
                t("Shift", "班次"),
                f" {clock(start, CST)} – {clock(end, CST)} · ",
                t("generated", "生成于"),
                f" {clock(time.time(), CST)}",
            ],
            className="handover-meta",
        ),
        html.P(
            t(
                "Incidents handled by simulated crews are counted in the totals; the lists show operator incidents.",
                "合计包含模拟处置队伍的事件；列表仅列出值班员处置的事件。",
            ),
            className="legend-source",
        ),
        html.Div(
            [
                html.Div([html.Strong(str(len(data[k]))), html.Span(t(*label))], className="kpi-mini")
                for k, label in (
                    ("opened", ("opened", "新开")),
                    ("closed", ("closed", "关闭")),
                    ("breached", ("breached SLA", "超时")),
                    ("still_open", ("still open", "未结")),
                )
            ],
            className="handover-totals",
            id=f"{P}-totals",
        ),
        handover_table(("Still open — hand over", "仍未结案 — 请交接"), operator_open, f"{P}-open", RULE_TABLES),
        handover_table(
            ("Breached SLA", "超时事件"),
            [r for r in data["breached"] if r["crew"] == "operator"],
            f"{P}-breached",
            RULE_TABLES,
        ),
        handover_table(
            ("Opened", "本班新开"), [r for r in data["opened"] if r["crew"] == "operator"], f"{P}-opened", RULE_TABLES
        ),
        handover_table(
            ("Closed", "本班关闭"), [r for r in data["closed"] if r["crew"] == "operator"], f"{P}-closed", RULE_TABLES
        ),
    ]


clientside_callback(
    ClientsideFunction("incidents", "printPage"),
    Output(f"{P}-printed", "children"),
    Input(f"{P}-print", "n_clicks"),
    prevent_initial_call=True,
)
