"""Plotly figures for the /pilots pages, built per language and theme (plotly text cannot follow CSS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from data.report import Pilot, ReportCity

FONT = '"Noto Sans SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif'
THEMES = {
    "light": {"text": "#1b1f24", "muted": "#5f6b7a", "grid": "#d9dee4"},
    "dark": {"text": "#e6edf3", "muted": "#9aa7b4", "grid": "#2d333b"},
}
GROUP_COLORS = ["#0b6bcb", "#e8590c", "#2b8a3e", "#ae3ec9", "#f59f00", "#1098ad"]
SCORE_COLORS = {"yiou": "#0b6bcb", "deloitte": "#2b8a3e", "deloitte-2": "#e8590c", "yiou-2": "#74c0fc"}
GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def _tr(lang: str, en: str, zh: str) -> str:
    return en if lang == "en" else zh


def _layout(fig: go.Figure, theme: str, title: str, height: int) -> go.Figure:
    c = THEMES.get(theme, THEMES["light"])
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        font={"family": FONT, "color": c["text"], "size": 12},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 10, "r": 20, "t": 40, "b": 10},
        height=height,
        legend={"orientation": "h", "y": -0.15, "x": 0, "font": {"size": 11}},
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(gridcolor=c["grid"], zerolinecolor=c["grid"], linecolor=c["grid"], automargin=True)
    fig.update_yaxes(gridcolor=c["grid"], zerolinecolor=c["grid"], linecolor=c["grid"], automargin=True)
    return fig


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    return {g: GROUP_COLORS[k % len(GROUP_COLORS)] for k, g in enumerate(groups)}


def pilots_by_agency(pilots: Sequence[Pilot], groups: Sequence[tuple[str, str]], lang: str, theme: str) -> go.Figure:
    """One horizontal bar per agency cell of table 2.2, a segment per programme, the total at the end."""
    colors = group_colors([zh for _, zh in groups])
    fig = go.Figure()
    labels = {zh: _tr(lang, en, zh) for en, zh in groups}
    for p in pilots:
        name = _tr(lang, p.programme_en, p.programme_zh)
        fig.add_bar(
            y=[labels[p.group_zh]],
            x=[p.count],
            orientation="h",
            name=name,
            marker={"color": colors[p.group_zh], "line": {"color": "#ffffff", "width": 1.5}},
            text=[str(p.count)],
            textposition="inside",
            insidetextanchor="middle",
            hovertemplate=f"{name}<br>{p.date}: %{{x}}<extra></extra>",
            showlegend=False,
        )
    totals: dict[str, int] = {}
    for p in pilots:
        totals[p.group_zh] = totals.get(p.group_zh, 0) + p.count
    shown = [g for g in labels if g in totals]
    fig.add_scatter(
        y=[labels[g] for g in shown],
        x=[totals[g] for g in shown],
        mode="text",
        text=[f"  {totals[g]}" for g in shown],
        textposition="middle right",
        hoverinfo="skip",
        showlegend=False,
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="array", categoryarray=[labels[g] for g in reversed(shown)])
    fig.update_xaxes(title=_tr(lang, "pilots", "试点数"), range=[0, max(totals.values(), default=1) * 1.15])
    title = _tr(lang, "Pilots by ministry (table 2.2)", "各部委试点数（表 2.2）")
    return _layout(fig, theme, title, 300)


def pilots_by_year(pilots: Sequence[Pilot], groups: Sequence[tuple[str, str]], lang: str, theme: str) -> go.Figure:
    """Pilots by the year each programme was announced, stacked by agency."""
    colors = group_colors([zh for _, zh in groups])
    years = sorted({p.year for p in pilots})
    fig = go.Figure()
    for en, zh in groups:
        counts = [sum(p.count for p in pilots if p.group_zh == zh and p.year == y) for y in years]
        if not any(counts):
            continue
        fig.add_bar(
            x=[str(y) for y in years],
            y=counts,
            name=_tr(lang, en, zh),
            marker={"color": colors[zh]},
            text=[str(c) if c else "" for c in counts],
            textposition="inside",
            insidetextanchor="middle",
            hovertemplate=f"{_tr(lang, en, zh)} · %{{x}}: %{{y}}<extra></extra>",
        )
    totals = [sum(p.count for p in pilots if p.year == y) for y in years]
    fig.add_scatter(
        x=[str(y) for y in years],
        y=totals,
        mode="text",
        text=[str(v) for v in totals],
        textposition="top center",
        hoverinfo="skip",
        showlegend=False,
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=_tr(lang, "pilots", "试点数"), range=[0, max(totals, default=1) * 1.18])
    fig.update_xaxes(type="category", title=_tr(lang, "year announced", "发布年份"))
    _layout(fig, theme, _tr(lang, "Pilots by year (table 2.2)", "各年份试点数（表 2.2）"), 320)
    fig.update_layout(legend={"orientation": "v", "y": 0.5, "yanchor": "middle", "x": 1.02}, margin={"r": 10})
    return fig


def city_scores(cities: Sequence[ReportCity], systems: dict[str, tuple[str, str]], lang: str, theme: str) -> go.Figure:
    """Both ranking scores per city; a second bar where the report's tables give a second value."""
    names = [_tr(lang, c.name_en, c.name_zh) for c in cities]
    fig = go.Figure()
    for system, (en, zh) in systems.items():
        variants = [c.score(system) for c in cities]
        first = [v[0].value if v else None for v in variants]
        first_tables = [", ".join(v[0].tables) if v else "" for v in variants]
        fig.add_bar(
            x=names,
            y=first,
            name=_tr(lang, en, zh),
            marker={"color": SCORE_COLORS[system]},
            text=[f"{v:g}" if v is not None else "" for v in first],
            textposition="outside",
            customdata=first_tables,
            hovertemplate="%{x}: %{y}<br>" + _tr(lang, "table ", "表 ") + "%{customdata}<extra></extra>",
        )
        if any(len(v) > 1 for v in variants):
            second = [v[1].value if len(v) > 1 else None for v in variants]
            second_tables = [", ".join(v[1].tables) if len(v) > 1 else "" for v in variants]
            tables = "/".join(sorted({t for t in second_tables if t}))
            fig.add_bar(
                x=names,
                y=second,
                name=_tr(lang, f"{en}: second value (table {tables})", f"{zh}：另一数值（表 {tables}）"),
                marker={"color": SCORE_COLORS[f"{system}-2"], "pattern": {"shape": "/"}},
                text=[f"{v:g}" if v is not None else "" for v in second],
                textposition="outside",
                customdata=second_tables,
                hovertemplate="%{x}: %{y}<br>" + _tr(lang, "table ", "表 ") + "%{customdata}<extra></extra>",
            )
    missing = [n for n, c in zip(names, cities, strict=True) if all(not v.value for v in c.score("yiou"))]
    for n in missing:
        fig.add_annotation(x=n, y=5, text=_tr(lang, "n/a", "不适用"), showarrow=False, font={"size": 11})
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(range=[0, 100], title=_tr(lang, "score (out of 100)", "得分（100 分制）"))
    title = _tr(lang, "Ranking scores (tables 2.3–2.9)", "排名得分（表 2.3–2.9）")
    return _layout(fig, theme, title, 340)


def start_years(cities: Sequence[ReportCity], lang: str, theme: str) -> go.Figure:
    """When each city's smart-city work started (tables 2.3–2.9), earliest first."""
    ordered = sorted(cities, key=lambda c: (c.start_year or 9999, c.name_en))
    names = [_tr(lang, c.name_en, c.name_zh) for c in ordered]
    years = [c.start_year for c in ordered]
    fig = go.Figure()
    fig.add_scatter(
        x=years,
        y=names,
        mode="markers+text",
        marker={"size": 14, "color": "#0b6bcb"},
        text=[str(y) for y in years],
        textposition="middle right",
        hovertemplate="%{y}: %{x}<extra></extra>",
        showlegend=False,
    )
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(names)))
    fig.update_xaxes(dtick=1, range=[min(years, default=2011) - 0.6, max(years, default=2018) + 0.9])
    title = _tr(lang, "Year smart-city work started (tables 2.3–2.9)", "智慧城市启动年份（表 2.3–2.9）")
    return _layout(fig, theme, title, 340)
