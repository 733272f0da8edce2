"""Shared pieces of the /pilots pages: sub-navigation, source chips, translation marks, notes.

Builders only: they take report data (``data.report`` objects) and return Dash components.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dash import dcc, html

from components.i18n import Pair, t, tp

if TYPE_CHECKING:
    from data.report import Contradiction, Source

SUBPAGES: list[tuple[str, Pair]] = [
    ("/pilots", ("Overview", "总览")),
    ("/pilots/cities", ("City comparison", "城市对比")),
    ("/pilots/technologies", ("Technology explorer", "技术浏览")),
    ("/pilots/city-brain", ("City Brain developers", "城市大脑开发者")),
    ("/pilots/recommendations", ("Recommendations", "建议")),
]
TRANSLATED_MARK = "†"
NOT_IN_REPORT: Pair = ("not in the report", "报告未提供")
# Dash 4's dropdown chrome takes plain strings: both languages, like the placeholders.
DROPDOWN_LABELS = {
    "select_all": "Select all · 全选",
    "deselect_all": "Deselect all · 全不选",
    "selected_count": "{num_selected} selected · 已选",  # Dash fills the first placeholder only
    "search": "Search · 搜索",
    "clear_search": "Clear search · 清除搜索",
    "clear_selection": "Clear selection · 清除选择",
    "no_options_found": "No options found · 无匹配项",
}
KIND_LABELS: dict[str, Pair] = {
    "contradiction": ("The report contradicts itself", "报告前后矛盾"),
    "misprint": ("Misprint in the report", "报告印刷错误"),
    "wording": ("Different wording in the report", "报告措辞不一"),
    "tension": ("Text and table disagree", "正文与表格不一致"),
    "unreconciled": ("Two figures, not reconciled", "两个数字，报告未说明关系"),
    "omission": ("Left out of a table", "表格遗漏"),
}


def report_header(prefix: str, current: str, title: Pair, lead: Pair | None = None) -> html.Div:
    """Page title, the pilots sub-navigation (current page marked) and an optional lead paragraph."""
    links = [
        dcc.Link(
            tp(label),
            href=href,
            id=f"{prefix}-subnav-{k}",
            className="rp-subnav-link is-current" if href == current else "rp-subnav-link",
        )
        for k, (href, label) in enumerate(SUBPAGES)
    ]
    return html.Div(
        [
            html.Nav(links, className="rp-subnav", **{"aria-label": "Pilots"}),
            html.H1(tp(title), className="page-title rp-title"),
            html.P(tp(lead), className="rp-lead") if lead else None,
        ],
        className="rp-header",
    )


def report_page(prefix: str, current: str, title: Pair, lead: Pair | None, body: list[Any]) -> html.Div:
    """A /pilots page: its location (the filters live in the query string, `<prefix>-url`), the header,
    `body`, and the footnote on the † translation mark."""
    return html.Div(
        [
            dcc.Location(id=f"{prefix}-url", refresh=False),
            report_header(prefix, current, title, lead),
            *body,
            translated_note(),
        ],
        className="rp-page",
    )


def source_chip(src: Source, short: bool = False, **kwargs) -> html.Span:
    """A small citation; `short` shows only the table (the full reference stays in the tooltip)."""
    en, zh = src.label()
    shown = src.short_label() if short else (en, zh)
    return html.Span(t(*shown), className="rp-source", title=f"{en} / {zh}", **kwargs)


def sources_line(sources: Iterable[Source], prefix: Pair = ("Source: ", "来源：")) -> html.Div:
    chips = [source_chip(s) for s in sources]
    return html.Div([tp(prefix), *_interleave(chips, " ")], className="rp-sources")


def _interleave(items: Sequence, sep) -> list:
    out: list = []
    for k, item in enumerate(items):
        if k:
            out.append(sep)
        out.append(item)
    return out


def en_name(en: str, en_source: str) -> str:
    """An English name with the † mark when it is our translation rather than the report's own."""
    return f"{en}{TRANSLATED_MARK}" if en_source == "translated" else en


def name_pair(zh: str, en: str, en_source: str = "translated", **kwargs) -> html.Span:
    """Chinese name (the report's) and English name; in English mode both show, Chinese first in zh mode."""
    return t(f"{en_name(en, en_source)} ({zh})", zh, **kwargs)


def translated_note() -> html.P:
    return html.P(
        t(
            f"{TRANSLATED_MARK} English translated by this dashboard, not the report's own wording. "
            "Chinese names are the report's.",
            f"{TRANSLATED_MARK} 英文为本平台翻译，非报告原文。中文名称均为报告原文。",
        ),
        className="rp-footnote",
    )


def not_in_report(**kwargs) -> html.Span:
    return html.Span(tp(NOT_IN_REPORT), className="rp-missing", **kwargs)


def contradiction_note(c: Contradiction, **kwargs) -> html.Div:
    return html.Div(
        [
            html.Strong(tp(KIND_LABELS.get(c.kind, KIND_LABELS["contradiction"])), className="rp-note-kind"),
            " ",
            t(c.en, c.zh),
            " ",
            *_interleave([source_chip(s) for s in c.sources], " "),
        ],
        className=f"rp-note rp-note-{c.kind}",
        role="note",
        **kwargs,
    )


def contradiction_notes(items: Iterable[Contradiction]) -> html.Div:
    return html.Div([contradiction_note(c) for c in items], className="rp-notes")


def panel(title: Pair, children, **kwargs) -> html.Section:
    return html.Section([html.H2(tp(title)), *(children if isinstance(children, list) else [children])], **kwargs)


def query_string(params: dict[str, Iterable[str] | str | None]) -> str:
    """`?a=x,y&b=z` from filter values, leaving empty filters out (commas stay readable)."""
    flat = {}
    for key, value in params.items():
        if value is None or value == "" or value == []:
            continue
        flat[key] = value if isinstance(value, str) else ",".join(str(v) for v in value)
    return "?" + urlencode(flat, safe=",") if flat else ""


def split_param(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def ignored_values(unknown: list[str]) -> html.Div | None:
    if not unknown:
        return None
    shown = ", ".join(unknown)
    return html.Div(
        t(f"Ignored unknown filter value(s) from the link: {shown}", f"已忽略链接中无法识别的筛选值：{shown}"),
        className="rp-warning",
        role="status",
    )


def filter_dropdown(
    dropdown_id: str,
    label: Pair,
    options: list[dict],
    value: Any,
    *,
    multi: bool = True,
    placeholder: str = "All · 全部",
    **dropdown: Any,
) -> list[Any]:
    """A filter's label and its dropdown (options from `option`); `dropdown` passes more Dropdown props."""
    return [
        html.Label(t(*label), htmlFor=dropdown_id, className="rp-filter-label"),
        dcc.Dropdown(
            id=dropdown_id,
            options=options,
            value=value,
            multi=multi,
            placeholder=placeholder,
            className="rp-dropdown",
            labels=DROPDOWN_LABELS,
            **dropdown,
        ),
    ]


def report_filter(dropdown_id: str, label: Pair, options: list[dict], value: Any, **kwargs: Any) -> html.Div:
    """One of several filters in a row (`rp-filters`): the label above its dropdown."""
    return html.Div(filter_dropdown(dropdown_id, label, options, value, **kwargs), className="rp-filter")


def option(value: str | int, en: str, zh: str) -> dict:
    """A dropdown option with a switchable label that can be searched in both languages."""
    return {"label": t(en, zh), "value": value, "search": f"{en} {zh}"}
