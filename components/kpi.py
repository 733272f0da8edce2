"""KPI cards: value with unit, change against the same time yesterday, and data age."""

from __future__ import annotations

from typing import Any

from dash import html

from components.i18n import KPI_LABELS, UNITS, t, tp

# Which way is worse for each KPI: colours the change against yesterday and picks the trend's alarm side.
HIGHER_IS_WORSE = {
    "congestion_index": True,
    "mean_speed": False,
    "parking_occupancy": True,
    "free_spaces": False,
    "city_aqi": True,
    "worst_station": True,
    "open_incidents": True,
    "incidents_today": True,
    "median_dispatch": True,
}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def _age_text(seconds: int | None) -> html.Span:
    if seconds is None:
        return t("no data", "无数据")
    if seconds < 90:
        return t(f"{seconds} s ago", f"{seconds} 秒前")
    minutes = seconds // 60
    if minutes < 120:
        return t(f"{minutes} min ago", f"{minutes} 分钟前")
    return t(f"{minutes // 60} h ago", f"{minutes // 60} 小时前")


def kpi_card(kpi: dict[str, Any], at: int, higher_is_worse: bool, spark: html.Div | None = None) -> html.Div:
    """`kpi` is one entry of data.access.kpi_dicts; the arrow colour says whether the change is bad.
    `spark` (components/trend.py) goes under the value; a click on the card opens its chart panel."""
    change = kpi.get("change")
    if change is None or change == 0:
        trend_class, arrow = "kpi-flat", "→"
    else:
        worse = (change > 0) == higher_is_worse
        trend_class, arrow = ("kpi-worse" if worse else "kpi-better"), ("↑" if change > 0 else "↓")
    age = None if kpi.get("newest") is None else max(0, at - int(kpi["newest"]))
    unit = UNITS.get(kpi["unit"], (kpi["unit"], kpi["unit"]))
    level = kpi.get("level")
    return html.Div(
        [
            html.Div(tp(KPI_LABELS[kpi["key"]]), className="kpi-label"),
            html.Div(
                [html.Span(_fmt(kpi["value"]), className="kpi-value"), html.Span(tp(unit), className="kpi-unit")],
                className=f"kpi-main aqi-level-{level}" if level else "kpi-main",
            ),
            html.Div(kpi.get("detail") or "", className="kpi-detail") if kpi.get("detail") else None,
            spark,
            html.Div(
                [
                    html.Span(f"{arrow} {_fmt(abs(change)) if change is not None else '—'}", className=trend_class),
                    t(" vs yesterday", " 较昨日同期"),
                ],
                className="kpi-change",
            ),
            html.Div(
                [_age_text(age), t(" · STALE", " · 数据过期") if kpi.get("stale") else None],
                className="kpi-age kpi-stale" if kpi.get("stale") else "kpi-age",
            ),
        ],
        className="kpi-card" + (" is-stale" if kpi.get("stale") else ""),
        id={"type": "kpi-card", "key": kpi["key"]},
        n_clicks=0,
        role="button",
        tabIndex="0",
        title="7-day chart · 7 天趋势图",
    )


def error_panel(what: tuple[str, str]) -> html.Div:
    """What a panel shows when its callback failed: the rest of the page keeps working."""
    return html.Div(
        [
            html.Strong(t("Temporarily unavailable: ", "暂时无法显示：")),
            tp(what),
            html.Div(
                t(
                    "The error was logged; this panel retries on the next refresh.",
                    "错误已记录，本面板将在下次刷新时重试。",
                ),
                className="muted",
            ),
        ],
        className="panel-error",
        role="alert",
    )
