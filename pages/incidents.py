"""Incident queue (/incidents): what waits for whom, SLA countdowns, actions, and performance KPIs.

Viewers see the queue; acting needs the operator role (checked by the gate for every `inc-act`
callback and again in data/workflow.py). A stale version gives a conflict message and the new state.
"""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from auth import current_user
from components.i18n import SEVERITIES, t
from components.incident_ui import ACTION_LABELS, RESOLUTION_LABELS, history_list, incident_summary, performance_table
from data import access, workflow
from data.config import load_settings
from data.geo.cities import CITIES
from data.rules import workflow as rules
from data.rules.tables import RULE_TABLES
from data.rules.vocabulary import INCIDENT_KINDS, STATUSES

dash.register_page(
    __name__,
    path="/incidents",
    name="Incidents",
    title="City Brain · Incident queue",
    nav=("Incidents", "事件处置"),
    order=1,
    access="viewer",
    id_prefix="inc",
    roles={"inc-act": "operator"},
)

P = "inc"
# Labels the grid's formatters use, in both languages (read by assets/incidents.js from the grid context).
GRID_LABELS = {"kinds": INCIDENT_KINDS, "severities": SEVERITIES, "statuses": STATUSES, "crews": {
    "operator": ("Operators", "值班员"), "simulated": ("Simulated crew", "模拟队伍")}}  # fmt: skip
ACTIONS = ("take_over", "acknowledge", "dispatch", "arrive", "resolve", "close", "reopen", "note")


def _columns() -> list[dict[str, Any]]:
    return [
        {"field": "id", "headerName": "ID · 编号", "checkboxSelection": True, "headerCheckboxSelection": True,
         "filter": "agNumberColumnFilter", "width": 120, "pinned": "left"},
        {"field": "kind", "headerName": "Type · 类型", "filter": "agTextColumnFilter", "width": 170,
         "valueFormatter": {"function": "kindLabel(params)"}},
        {"field": "severity", "headerName": "Severity · 等级", "filter": "agNumberColumnFilter", "width": 120,
         "valueFormatter": {"function": "severityLabel(params)"}, "sort": "desc", "sortIndex": 1},
        {"field": "district", "headerName": "District · 区县", "filter": "agTextColumnFilter", "width": 130},
        {"field": "status", "headerName": "Status · 状态", "filter": "agTextColumnFilter", "width": 130,
         "valueFormatter": {"function": "statusLabel(params)"}},
        {"colId": "age", "headerName": "Age (min) · 时长(分)", "filter": "agNumberColumnFilter", "width": 140,
         "valueGetter": {"function": "ageMinutes(params)"}, "type": "rightAligned"},
        {"colId": "sla", "headerName": "SLA left (s) · 剩余(秒)", "filter": "agNumberColumnFilter", "width": 160,
         "valueGetter": {"function": "slaLeft(params)"}, "type": "rightAligned", "sort": "asc", "sortIndex": 0,
         "cellClassRules": {"sla-overdue": "params.value !== null && params.value < 0",
                            "sla-soon": "params.value !== null && params.value >= 0 && params.value < 30"}},
        {"field": "unit", "headerName": "Unit · 处置单位", "filter": "agTextColumnFilter", "width": 130},
        {"field": "crew", "headerName": "Handled by · 处置方", "filter": "agTextColumnFilter", "width": 130,
         "valueFormatter": {"function": "crewLabel(params)"}},
        {"field": "source", "headerName": "Source · 来源", "filter": "agTextColumnFilter", "width": 150},
        {"field": "version", "headerName": "v", "width": 70},
    ]  # fmt: skip


def _toolbar(city: str | None) -> html.Div:
    options = [{"label": t("All cities", "全部城市"), "value": "all"}] + [
        {"label": t(c.name_en, c.name_zh), "value": k} for k, c in CITIES.items()
    ]
    return html.Div(
        [
            html.H1(t("Incident queue", "事件处置队列"), className="page-title"),
            dcc.Dropdown(
                id=f"{P}-city", options=options, value=city or "hangzhou", clearable=False, className="city-select"
            ),
            dcc.Checklist(
                id=f"{P}-scope",
                options=[
                    {"label": t("Operator incidents only", "仅值班员处置"), "value": "ops"},
                    {"label": t("Include closed", "含已关闭"), "value": "closed"},
                ],
                value=["ops"],
                className="scope-switch",
                inline=True,
            ),
            html.Button(t("Acknowledge selected", "批量确认"), id=f"{P}-act-bulk", className="btn btn-primary"),
            html.Span(id=f"{P}-act-bulk-msg", className="bulk-msg", role="status"),
        ],
        className="toolbar",
    )


def _action_panel() -> html.Div:
    buttons = [
        html.Button(t(*ACTION_LABELS[a]), id=f"{P}-act-{a}", className="btn", disabled=True, n_clicks=0)
        for a in ACTIONS
    ]
    return html.Div(
        [
            html.Div(id=f"{P}-detail", className="incident-detail"),
            html.Div(
                [
                    html.Label(t("Unit to dispatch", "派遣单位"), htmlFor=f"{P}-act-unit"),
                    dcc.Dropdown(id=f"{P}-act-unit", placeholder="—"),
                    html.Label(t("Resolution code", "处置结果"), htmlFor=f"{P}-act-code"),
                    dcc.Dropdown(
                        id=f"{P}-act-code",
                        options=[
                            {"label": t(*RESOLUTION_LABELS[c]), "value": c, "search": " ".join(RESOLUTION_LABELS[c])}
                            for c in rules.RESOLUTION_CODES
                        ],
                        placeholder="—",
                    ),
                    html.Label(t("Note", "备注"), htmlFor=f"{P}-act-text"),
                    dcc.Textarea(id=f"{P}-act-text", className="note-input", maxLength=2000),
                    html.Div(buttons, className="action-buttons"),
                    html.Div(id=f"{P}-act-msg", className="action-msg", role="alert"),
                ],
                className="action-form",
            ),
            html.H3(t("History", "处置记录")),
            html.Div(id=f"{P}-history"),
        ],
        className="side-panel",
    )


def layout(city: str | None = None, **_query: Any) -> html.Div:
    refresh_ms = load_settings().refresh_seconds * 1000
    return html.Div(
        [
            dcc.Interval(id=f"{P}-interval", interval=refresh_ms),
            dcc.Store(id=f"{P}-act-done"),  # bumped after an action: refreshes the queue and the detail
            dcc.Store(id=f"{P}-selected"),  # {"id", "version"} of the incident in the detail panel
            _toolbar(city if city in CITIES else None),
            html.Div(
                [
                    html.Div(
                        dag.AgGrid(
                            id=f"{P}-grid",
                            columnDefs=_columns(),
                            rowData=[],
                            getRowId="params.data.id",
                            defaultColDef={"sortable": True, "resizable": True, "floatingFilter": True},
                            dashGridOptions={
                                "rowSelection": "multiple",
                                "suppressRowClickSelection": False,
                                "animateRows": False,
                                "rowHeight": 34,
                                "context": GRID_LABELS,
                            },
                            className="ag-theme-alpine incident-grid",
                            style={"height": "62vh"},
                        ),
                        className="queue-panel",
                    ),
                    _action_panel(),
                ],
                className="incident-layout",
            ),
            html.H2(t("Performance, last 24 hours", "近 24 小时处置绩效"), className="section-title"),
            html.P(
                t(
                    "SLA: acknowledge within 60 s; dispatch (contact the responsible unit) within 3 min for "
                    "high and critical incidents (report, ch. 3: Haidian). 10 and 30 min for medium and low are "
                    "our defaults. Simulated crews' incidents are included and labelled.",
                    "时限：60 秒内确认；高、紧急事件 3 分钟内派遣（联系责任单位）（报告第 3 章：海淀）。中、低等级的 "
                    "10 与 30 分钟为本系统默认值。模拟处置队伍的事件一并统计并标注。",
                ),
                className="legend-source",
            ),
            html.Div(id=f"{P}-performance", className="performance"),
        ],
        className="incidents-page",
    )


def _city(value: str | None) -> str | None:
    return None if value in (None, "all") else value


@callback(
    Output(f"{P}-grid", "rowData"),
    Input(f"{P}-interval", "n_intervals"),
    Input(f"{P}-city", "value"),
    Input(f"{P}-scope", "value"),
    Input(f"{P}-act-done", "data"),
)
def refresh_queue(_n: int | None, city: str | None, scope: list[str] | None, _done: Any) -> list[dict[str, Any]]:
    scope = scope or []
    crew = "operator" if "ops" in scope else None
    rows = access.incident_queue(_city(city), int(time.time()), include_closed="closed" in scope, crew=crew)
    return rows[:3000]


@callback(
    Output(f"{P}-detail", "children"),
    Output(f"{P}-history", "children"),
    Output(f"{P}-selected", "data"),
    Output(f"{P}-act-unit", "options"),
    *[Output(f"{P}-act-{a}", "disabled") for a in ACTIONS],
    Input(f"{P}-grid", "selectedRows"),
    Input(f"{P}-act-done", "data"),
)
def show_detail(selected: list[dict[str, Any]] | None, _done: Any):
    nothing = (t("Choose an incident in the queue.", "请在队列中选择一个事件。"), [], None, [])
    if not selected:
        return *nothing, *([True] * len(ACTIONS))
    row = workflow.incident(int(selected[-1]["id"]))
    if row is None:
        return *nothing, *([True] * len(ACTIONS))
    user = current_user()
    allowed = workflow.allowed_actions(row, user)
    units = [
        {"label": f"{u['code']} · {u['zh']} {u['en']}{' (busy · 忙)' if u['busy'] else ''}", "value": u["code"]}
        for u in workflow.unit_choices(row["city"], row["kind"])
    ]
    return (
        incident_summary(row, RULE_TABLES),
        history_list(workflow.history(row["id"]), RULE_TABLES),
        {"id": row["id"], "version": row["version"]},
        units,
        *[a not in allowed for a in ACTIONS],
    )


@callback(
    Output(f"{P}-act-msg", "children"),
    Output(f"{P}-act-done", "data"),
    Output(f"{P}-act-text", "value"),
    *[Input(f"{P}-act-{a}", "n_clicks") for a in ACTIONS],
    State(f"{P}-selected", "data"),
    State(f"{P}-act-unit", "value"),
    State(f"{P}-act-code", "value"),
    State(f"{P}-act-text", "value"),
    prevent_initial_call=True,
)
def act(*args: Any):
    selected, unit, code, note = args[len(ACTIONS) :]
    action = str(ctx.triggered_id or "").removeprefix(f"{P}-act-")
    if action not in ACTIONS or not selected:
        return no_update, no_update, no_update
    params = {"unit": unit, "resolution_code": code, "note": note}
    try:
        workflow.act(int(selected["id"]), action, selected.get("version"), current_user(), params)
    except workflow.ActionError as exc:
        return html.Span(str(exc), className=f"msg-error msg-{exc.code}"), time.time(), no_update
    done = t(f"Done: {ACTION_LABELS[action][0]}", f"已完成：{ACTION_LABELS[action][1]}")
    return html.Span(done, className="msg-ok"), time.time(), ""


@callback(
    Output(f"{P}-act-bulk-msg", "children"),
    Output(f"{P}-act-done", "data", allow_duplicate=True),
    Input(f"{P}-act-bulk", "n_clicks"),
    State(f"{P}-grid", "selectedRows"),
    prevent_initial_call=True,
)
def bulk_acknowledge(_n: int | None, selected: list[dict[str, Any]] | None):
    if not selected:
        return t("Select incidents first.", "请先选择事件。"), no_update
    user = current_user()
    done, refused = 0, []
    for row in selected:
        try:
            workflow.act(int(row["id"]), "acknowledge", row.get("version"), user)
            done += 1
        except workflow.ActionError as exc:
            refused.append(f"{row['id']}: {exc.code}")
    summary = t(f"Acknowledged {done} of {len(selected)}", f"已确认 {done}/{len(selected)}")
    detail = f" ({'; '.join(refused[:5])}{' …' if len(refused) > 5 else ''})" if refused else ""
    return html.Span([summary, detail], className="msg-ok" if not refused else "msg-error"), time.time()


@callback(
    Output(f"{P}-performance", "children"),
    Input(f"{P}-city", "value"),
    Input(f"{P}-act-done", "data"),
)
def performance(city: str | None, _done: Any):
    now = int(time.time())
    tables = access.incident_performance(_city(city), now - 86400, now)
    return [
        performance_table(name, tables[name], INCIDENT_KINDS if name == "kind" else None)
        for name in ("all", "crew", "kind", "district", "shift")
    ]
