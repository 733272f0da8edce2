"""Pieces of the incident pages: the detail summary, the history, performance and handover tables."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from dash import html

from components.i18n import SEVERITIES, Pair, t
from components.markup import pair, pair_of, static, tag

if TYPE_CHECKING:
    from data.rules.tables import RuleTables

ACTION_LABELS: dict[str, Pair] = {
    "acknowledge": ("Acknowledge", "确认"),
    "dispatch": ("Dispatch", "派遣"),
    "arrive": ("On scene", "到场"),
    "resolve": ("Resolve", "处置完毕"),
    "close": ("Close", "关闭"),
    "reopen": ("Reopen", "重新打开"),
    "note": ("Add note", "添加备注"),
    "take_over": ("Take over (practice)", "接管（演练）"),
    "open": ("Opened by rule", "规则开单"),
    "create": ("Created", "创建"),
}
RESOLUTION_LABELS: dict[str, Pair] = {
    "cleared": ("Cleared", "已清除"),
    "towed": ("Vehicle towed", "已拖移"),
    "repaired": ("Repaired", "已修复"),
    "referred": ("Referred to another agency", "已转交"),
    "no_action_needed": ("No action needed", "无需处置"),
    "false_alarm": ("False alarm", "误报"),
    "duplicate": ("Duplicate", "重复事件"),
}
GROUP_LABELS: dict[str, Pair] = {
    "all": ("All incidents", "全部事件"),
    "crew": ("By who handled them", "按处置方"),
    "kind": ("By type", "按类型"),
    "district": ("By district", "按区县"),
    "shift": ("By shift (local time)", "按班次（北京时间）"),
}
CREW_LABELS: dict[str, Pair] = {"operator": ("Operators", "值班员"), "simulated": ("Simulated crews", "模拟队伍")}


def clock(epoch: float | None, utc_offset: int, fmt: str = "%m-%d %H:%M:%S") -> str:
    """A time at `utc_offset` seconds east of UTC (China Standard Time: data.rules.clock.CST), whatever
    the server's own time zone."""
    return time.strftime(fmt, time.gmtime(epoch + utc_offset)) if epoch else "—"


def _field(label: Pair, value: Any) -> html.Div:
    return html.Div([html.Dt(t(*label)), html.Dd(value if value not in (None, "") else "—")], className="field")


def incident_summary(row: dict[str, Any], rules: RuleTables) -> html.Div:
    kind = rules.incident_kinds.get(row["kind"], (row["kind"], row["kind"]))
    status = rules.statuses.get(row["status"], (row["status"], row["status"]))
    code = RESOLUTION_LABELS.get(row.get("resolution_code") or "")
    return html.Div(
        [
            html.H2([t(*kind), " · #", str(row["id"])], className="detail-title"),
            html.Div(
                [
                    html.Span(t(*status), className=f"status-chip status-{row['status']}"),
                    html.Span(t(*SEVERITIES[int(row["severity"]) - 1]), className=f"sev-chip sev-{row['severity']}"),
                    html.Span(t("SIMULATED", "模拟"), className="sim-chip") if row.get("simulated") else None,
                ],
                className="chips",
            ),
            html.Dl(
                [
                    _field(("Reported", "上报"), clock(row["reported_at"], rules.utc_offset)),
                    _field(("District", "区县"), row.get("district")),
                    _field(("Source", "来源"), row.get("source")),
                    _field(("Unit", "处置单位"), row.get("unit")),
                    _field(("Resolution", "处置结果"), t(*code) if code else None),
                    _field(("Version", "版本"), str(row["version"])),
                ],
                className="detail-fields",
            ),
            html.A(
                t("Show on the command-centre map", "在指挥中心地图上查看"),
                href=f"/?city={row['city']}&incident={row['id']}",
                className="btn btn-ghost",
                id="inc-show-on-map",
            ),
        ]
    )


def history_list(entries: list[dict[str, Any]], rules: RuleTables) -> html.Ol:
    items = []
    for e in entries:
        after = json.loads(e.get("after") or "{}")
        label = ACTION_LABELS.get(e["action"], (e["action"], e["action"]))
        extra = " · ".join(str(after[k]) for k in ("unit", "resolution_code") if after.get(k))
        items.append(
            html.Li(
                [
                    html.Span(clock(e["at"], rules.utc_offset), className="hist-time"),
                    html.Span(e["actor"], className="hist-actor"),
                    t(*label),
                    html.Span(f" {extra}", className="hist-extra") if extra else None,
                    html.Div(e["note"], className="hist-note") if e.get("note") else None,
                ]
            )
        )
    return html.Ol(items or [html.Li(t("No actions yet", "暂无处置记录"))], className="history")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _group_label(group: str, labels: dict[str, Pair]) -> Any:
    if group in labels:
        return t(*labels[group])
    return "—" if group == "all" else group


def performance_table(group: str, rows: list[dict[str, Any]], labels: dict[str, Pair] | None = None) -> html.Div:
    labels = labels or (CREW_LABELS if group == "crew" else {})
    header = html.Tr(
        [html.Th(t(*GROUP_LABELS[group]))]
        + [
            html.Th(t(*p))
            for p in (
                ("Incidents", "事件数"),
                ("Median to acknowledge", "确认用时中位数"),
                ("Median to dispatch", "派遣用时中位数"),
                ("Median to resolve", "处置用时中位数"),
                ("Acknowledged in time", "按时确认"),
                ("Dispatched in time", "按时派遣"),
                ("SLA breaches", "超时数"),
            )
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(
                    t(*labels[r["group"]]) if r["group"] in labels else ("—" if r["group"] == "all" else r["group"])
                ),
                html.Td(f"{r['incidents']:,}"),
                html.Td(_duration(r["median_ack_s"])),
                html.Td(_duration(r["median_dispatch_s"])),
                html.Td(_duration(r["median_resolve_s"])),
                html.Td(f"{r['ack_sla_pct']:.1f}%"),
                html.Td(f"{r['dispatch_sla_pct']:.1f}%"),
                html.Td(f"{int(r['breaches']):,}", className="breach" if r["breaches"] else None),
            ]
        )
        for r in sorted(rows, key=lambda r: -r["incidents"])
    ]
    return html.Div(
        html.Table([html.Thead(header), html.Tbody(body)], className="perf-table", id=f"inc-perf-{group}"),
        className="perf-block",
    )


HANDOVER_COLUMNS: tuple[Pair, ...] = (
    ("ID", "编号"),
    ("Type", "类型"),
    ("Severity", "等级"),
    ("District", "区县"),
    ("Status", "状态"),
    ("Reported", "上报"),
    ("Unit", "单位"),
    ("Breached", "超时"),
)


def handover_table(title: Pair, rows: list[dict[str, Any]], table_id: str, rules: RuleTables) -> html.Section:
    """One list of the handover report as written HTML (components/markup.py): one component, however
    long the shift. As Dash components (~20 a row) a shift of a few thousand operator incidents froze the
    page for minutes: dash-renderer notifies every component of each store update."""
    if rows:
        head = tag("tr", *(tag("th", pair_of(p)) for p in HANDOVER_COLUMNS))
        body = (
            tag(
                "tr",
                tag("td", str(r["id"])),
                tag("td", pair_of(rules.incident_kinds.get(r["kind"], (r["kind"], r["kind"])))),
                tag("td", pair_of(SEVERITIES[int(r["severity"]) - 1])),
                tag("td", r.get("district") or "—"),
                tag("td", pair_of(rules.statuses.get(r["status"], (r["status"], r["status"])))),
                tag("td", clock(r["reported_at"], rules.utc_offset)),
                tag("td", r.get("unit") or "—"),
                tag("td", pair("yes", "是"), class_="breach") if r.get("breached") else tag("td"),
            )
            for r in rows
        )
        listing = tag("table", tag("thead", head), tag("tbody", *body), class_="perf-table", id=table_id)
    else:
        listing = tag("p", pair("None", "无"))
    return static(html.Section, tag("h2", pair_of(title), f" ({len(rows)})"), listing, className="handover-section")
