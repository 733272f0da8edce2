"""KPI trends: the sparkline under each card (no chart library: an inline SVG path whose `d` a refresh
rewrites, painted by the theme's colours through CSS) and the chart panel a click on a card opens
(plotly: 7 days with the alert thresholds, and the breakdown by district)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from components.i18n import KPI_LABELS, UNITS, Pair, t, tp
from components.kpi import KPI_UNITS

WIDTH, HEIGHT = 96.0, 24.0
Series = list[float | int | None]


def _path(values: Series, low: float, high: float) -> str:
    """An SVG path through `values` on a WIDTH x HEIGHT box; gaps (None) break the line."""
    span = (high - low) or 1.0
    step = WIDTH / max(1, len(values) - 1)
    parts, pen_down = [], False
    for k, v in enumerate(values):
        if v is None:
            pen_down = False
            continue
        y = HEIGHT - 1 - (float(v) - low) / span * (HEIGHT - 2)
        parts.append(f"{'L' if pen_down else 'M'}{k * step:.1f} {y:.1f}")
        pen_down = True
    return "".join(parts)


def spark_paths(today: Series, yesterday: Series) -> dict[str, str | None] | None:
    """The sparkline as data: SVG paths (on a WIDTH x HEIGHT box) of today's last 24 h and of the same
    hours yesterday (None without a value), on one scale; None when there is nothing to draw.
    assets/citybrain.js `applyPanels` draws them into the card's sparkline and rewrites them on a
    refresh. (They were CSS mask images, data: URLs: every changed line was a new SVG image document the
    browser kept, +4 documents and ~12 nodes a refresh in the 30-minute soak, issue 17.)"""
    present = [float(v) for v in [*today, *yesterday] if v is not None]
    if not present:
        return None
    low, high = min(present), max(present)
    has_yesterday = any(v is not None for v in yesterday)
    return {
        "today": _path(today, low, high),
        "yesterday": _path(yesterday, low, high) if has_yesterday else None,
    }


# The sparkline's box and tooltip: the browser draws the two lines (Dash has no SVG components) into
# each card (components/kpi.py card_spec, assets/citybrain.js), today over yesterday (faint).
SPARK = {"viewbox": f"0 0 {WIDTH:g} {HEIGHT:g}", "title": "24 h · 24 小时（虚淡：昨日同期 · faint: yesterday）"}


# --- the chart panel --------------------------------------------------------------------------------

THEMES = {
    "light": {"text": "#1b1f24", "muted": "#5f6b7a", "grid": "#d9dee4", "line": "#0b6bcb", "bar": "#4a90d9"},
    "dark": {"text": "#e6edf3", "muted": "#9aa7b4", "grid": "#2d333b", "line": "#4dabf7", "bar": "#3b82c4"},
}
LEVEL_COLOURS = {"warning": "#e8590c", "critical": "#c92a2a"}
BREAKDOWN_TITLES: dict[str, Pair] = {
    "city_aqi": ("By station, last hour", "各站点（最近一小时）"),
    "worst_station": ("By station, last hour", "各站点（最近一小时）"),
}


def _say(pair: Pair, lang: str) -> str:
    return pair[1] if lang == "zh" else pair[0]


def _layout(fig: go.Figure, theme: str, height: int) -> go.Figure:
    colours = THEMES.get(theme, THEMES["light"])
    fig.update_layout(
        height=height,
        margin={"l": 48, "r": 12, "t": 8, "b": 32},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": colours["text"], "size": 12},
        showlegend=False,
        hoverlabel={"bgcolor": "#161b22" if theme == "dark" else "#ffffff", "font": {"color": colours["text"]}},
    )
    fig.update_xaxes(gridcolor=colours["grid"], zerolinecolor=colours["grid"], linecolor=colours["grid"])
    fig.update_yaxes(gridcolor=colours["grid"], zerolinecolor=colours["grid"], linecolor=colours["grid"])
    return fig


def week_figure(key: str, trend: dict[str, Any], current: Any, lang: str, theme: str, utc_offset: int) -> go.Figure:
    """The KPI over the 7 days (local time: `utc_offset` seconds east of UTC), its last point the card's
    value, with thresholds."""
    values = list(trend["series"][key])
    if values and current is not None and not isinstance(current, str):
        values[-1] = current
    when = pd.to_datetime([s + utc_offset for s in trend["t"]], unit="s")
    colours = THEMES.get(theme, THEMES["light"])
    unit = _say(UNITS.get(KPI_UNITS.get(key, ""), ("", "")), lang)
    fig = go.Figure(
        go.Scatter(
            x=when,
            y=values,
            mode="lines",
            line={"color": colours["line"], "width": 1.6},
            name=_say(KPI_LABELS[key], lang),
            hovertemplate=f"%{{x|%m-%d %H:%M}}<br>%{{y}} {unit}<extra></extra>",
        )
    )
    for line in trend.get("thresholds", {}).get(key, []):
        fig.add_hline(
            y=line["value"],
            line={"color": LEVEL_COLOURS.get(line["level"], colours["muted"]), "dash": "dash", "width": 1},
            annotation_text=f"{line['value']:g} · {line['zh'] if lang == 'zh' else line['en']}",
            annotation_position="top left",
            annotation_font={"color": LEVEL_COLOURS.get(line["level"], colours["muted"])},
        )
    fig.update_xaxes(tickformat="%m-%d", hoverformat="%m-%d %H:%M")  # numeric dates read the same in both languages
    return _layout(fig, theme, 260)


def breakdown_figure(key: str, trend: dict[str, Any], lang: str, theme: str) -> go.Figure:
    items = sorted(
        (
            (name or _say(("(no district)", "（未标注）"), lang), v)
            for name, v in trend["breakdown"].get(key, {}).items()
        ),
        key=lambda item: -1e18 if item[1] is None else item[1],
    )
    colours = THEMES.get(theme, THEMES["light"])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[name for name, _ in items],
            orientation="h",
            marker={"color": colours["bar"]},
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    for line in trend.get("thresholds", {}).get(key, []):
        fig.add_vline(x=line["value"], line={"color": LEVEL_COLOURS.get(line["level"]), "dash": "dash", "width": 1})
    return _layout(fig, theme, max(160, 22 * len(items) + 50))


def chart_panel(
    prefix: str, key: str, trend: dict[str, Any], current: Any, lang: str, theme: str, utc_offset: int
) -> list[Any]:
    """The panel's contents: title, the 7-day chart and the breakdown (plotly loads only once opened)."""
    week = week_figure(key, trend, current, lang, theme, utc_offset)
    config = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
    return [
        html.H2([tp(KPI_LABELS[key]), " · ", t("last 7 days", "近 7 天")], className="trend-title"),
        dcc.Graph(id=f"{prefix}-trend-chart", figure=week, config=config),
        html.H3(tp(BREAKDOWN_TITLES.get(key, ("By district, now", "各行政区（当前）")))),
        dcc.Graph(id=f"{prefix}-trend-districts", figure=breakdown_figure(key, trend, lang, theme), config=config),
        html.P(
            t(
                "Dashed lines: the thresholds the alerts use. Data SIMULATED.",
                "虚线：告警所用阈值。数据为模拟数据。",
            ),
            className="muted trend-note",
        ),
    ]
