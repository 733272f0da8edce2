"""Audit log (/audit): every change to incidents and users — who, when, before, after. Supervisors only.

The log is append-only (database triggers refuse updates and deletes); the CSV export is
/api/v1/audit.csv with the same time range.
"""

from __future__ import annotations

import json
import time
from typing import Any

import dash
import dash_ag_grid as dag
from dash import Input, Output, callback, dcc, html

from components.i18n import t
from components.incident_ui import clock
from data import access
from data.rules.clock import CST

dash.register_page(
    __name__,
    path="/audit",
    name="Audit log",
    title="City Brain · Audit log",
    nav=("Audit", "审计"),
    order=6,
    access="supervisor",
    id_prefix="aud",
)

P = "aud"
RANGES = {"1": ("Last hour", "近 1 小时"), "24": ("Last 24 hours", "近 24 小时"), "168": ("Last 7 days", "近 7 天")}


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H1(t("Audit log", "审计日志"), className="page-title"),
                    dcc.Dropdown(
                        id=f"{P}-range",
                        options=[{"label": t(*v), "value": k} for k, v in RANGES.items()],
                        value="24",
                        clearable=False,
                    ),
                    html.A(t("Export CSV", "导出 CSV"), id=f"{P}-export", className="btn btn-primary", href="#"),
                ],
                className="toolbar",
            ),
            html.P(
                t("Append-only: entries cannot be changed or deleted.", "仅追加：记录不可修改或删除。"),
                className="legend-source",
            ),
            dag.AgGrid(
                id=f"{P}-grid",
                columnDefs=[
                    {"field": "id", "headerName": "#", "width": 90},
                    {"field": "time", "headerName": "Time (CST) · 时间", "width": 170, "cellDataType": "text"},
                    {"field": "actor", "headerName": "Who · 操作人", "width": 120},
                    {"field": "entity", "headerName": "Record · 对象", "width": 100},
                    {"field": "entity_id", "headerName": "ID", "width": 100},
                    {"field": "action", "headerName": "Action · 操作", "width": 120},
                    {"field": "before", "headerName": "Before · 之前", "flex": 1},
                    {"field": "after", "headerName": "After · 之后", "flex": 1},
                    {"field": "note", "headerName": "Note · 备注", "flex": 1},
                ],
                defaultColDef={"sortable": True, "resizable": True, "filter": True, "floatingFilter": True},
                rowData=[],
                className="ag-theme-alpine",
                style={"height": "70vh"},
            ),
        ]
    )


@callback(Output(f"{P}-grid", "rowData"), Output(f"{P}-export", "href"), Input(f"{P}-range", "value"))
def entries(hours: str) -> tuple[list[dict[str, Any]], str]:
    now = int(time.time())
    since = now - int(hours) * 3600
    rows = [
        e | {"time": clock(e["at"], CST, "%Y-%m-%d %H:%M:%S"),
             "before": _compact(e["before"]), "after": _compact(e["after"])}
        for e in access.audit_log(since, now)
    ]  # fmt: skip
    return rows, f"/api/v1/audit.csv?since={since}&until={now}"


def _compact(raw: str) -> str:
    try:
        return ", ".join(f"{k}={v}" for k, v in json.loads(raw).items())
    except (ValueError, AttributeError):
        return raw
