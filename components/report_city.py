"""City comparison builders: one column per city with the report's figures (tables 2.3–2.9) next to the
city's live KPIs from the command centre (simulated), and the "who leads" summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dash import dcc, html

from components.i18n import KPI_LABELS, UNITS, Pair, t, tp
from components.report_ui import NOT_IN_REPORT, contradiction_note, en_name, not_in_report, source_chip

if TYPE_CHECKING:
    from data.report import Contradiction, Fact, Leader, ReportCity, ScoreSystem, TableRef, Variant

# The live KPIs shown beside the report, in this order.
LIVE_KPIS = ("congestion_index", "free_spaces", "city_aqi", "incidents_today")


def _table_chips(tables: Sequence[str], printed: dict[str, TableRef]) -> list[html.Span]:
    """`printed`: the report's tables by number."""
    return [source_chip(printed[tb].source, short=True) for tb in tables]


def _variants_block(city: ReportCity, attr: str, title: Pair, printed: dict[str, TableRef]) -> html.Div:
    """The items of all the city's tables in one list; an item missing from a table is tagged with its table."""
    every = tuple(r.source.table or "" for r in city.records)
    items = city.items(attr)
    body: list[Any] = [
        html.H4(tp(title)),
        html.Ul(
            [
                html.Li(
                    [
                        t(f"{en_name(v.value.en, v.value.en_source)} ({v.value.zh})", v.value.zh),
                        *(
                            [" ", *_table_chips(v.tables, printed), html.Span(t(" only", "独有"), className="muted")]
                            if v.tables != every
                            else []
                        ),
                    ]
                )
                for v in items
            ]
        ),
        html.Div(_table_chips(every, printed), className="rp-sources"),
    ]
    if any(v.tables != every for v in items):
        body.append(
            html.Div(
                t(
                    "The tables differ: every item is shown, tagged with the only table that lists it.",
                    "各表不一致：全部列出，并标注仅列出该项的表。",
                ),
                className="rp-warning",
            )
        )
    return html.Div(body, className=f"rp-city-{attr}")


def _score_block(city: ReportCity, system: ScoreSystem, printed: dict[str, TableRef]) -> html.Div:
    variants = [v for v in city.score(system.key) if v.value is not None]
    if variants:
        values: list[Any] = []
        for k, v in enumerate(variants):
            if k:
                values.append(html.Span(" / ", className="muted"))
            values += [html.Span(f"{v.value:g}", className="rp-score"), " ", *_table_chips(v.tables, printed)]
    else:
        tables = [r.source.table or "" for r in city.records]
        if city.printed(system.key):
            values = [
                html.Span(t("not applicable", "不适用"), className="rp-missing"),
                " ",
                *_table_chips(tables, printed),
            ]
        else:
            values = [not_in_report()]
    return html.Div(
        [html.H4(t(system.short_en, system.short_zh), title=f"{system.name_en} / {system.name_zh}"), html.Div(values)],
        className=f"rp-city-score rp-city-{system.key}",
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fact_parts(fact: Fact) -> list[Any]:
    """A figure of the report's text: the value (in Chinese when it is worded so), what it counts, its source."""
    return [
        html.Strong((fact.value_zh and t(fact.value, fact.value_zh)) or fact.value),
        " ",
        t(fact.label_en, fact.label_zh),
        " ",
        source_chip(fact.source),
    ]


def live_rows(city: ReportCity, kpis: dict[str, dict[str, Any]] | None, error: bool = False) -> list[Any]:
    """Rows of (the report's figure | the live KPI) for one city; the live side is simulated."""
    paired = {f.pairs_with: f for f in city.facts if f.pairs_with}
    rows: list[Any] = [
        html.Div(
            [
                html.Span(t("In the report", "报告数据"), className="rp-pair-head"),
                html.Span(
                    [t("Live now", "当前实时"), html.Span(t("SIMULATED", "模拟"), className="rp-sim")],
                    className="rp-pair-head",
                ),
            ],
            className="rp-pair",
        )
    ]
    for key in LIVE_KPIS:
        fact = paired.get(key)
        left: Any = html.Span(_fact_parts(fact)) if fact else not_in_report()
        if error:
            right: Any = html.Span(t("unavailable", "暂不可用"), className="text-error")
        elif kpis is None:
            right = html.Span(t("loading…", "加载中…"), className="muted")
        else:
            k = kpis.get(key, {})
            unit = UNITS.get(k.get("unit", ""), (k.get("unit", ""), k.get("unit", "")))
            right = html.Span(
                [
                    t(*KPI_LABELS[key]),
                    ": ",
                    html.Strong(_fmt(k.get("value")), className="rp-kv-value"),
                    " ",
                    tp(unit),
                    html.Span(t(" · stale", " · 数据过期"), className="kpi-stale") if k.get("stale") else None,
                ]
            )
        rows.append(html.Div([left, right], className="rp-pair", **{"data-kpi": key}))
    return rows


def city_column(
    city: ReportCity,
    systems: dict[str, ScoreSystem],
    contradictions: Sequence[Contradiction],
    printed: dict[str, TableRef],
) -> html.Div:
    """`contradictions`: the report's contradictions about this city; `printed`: its tables by number."""
    notes = [contradiction_note(c) for c in contradictions]
    start = city.variants("start_year")
    other_facts = [f for f in city.facts if not f.pairs_with]
    return html.Div(
        [
            html.Div(
                [
                    html.H3(t(f"{city.name_en} ({city.name_zh})", city.name_zh)),
                    html.A(
                        t("Live command centre →", "实时指挥中心 →"),
                        href=f"/?city={city.key}",
                        className="rp-city-live-link",
                    ),
                ],
                className="rp-row",
            ),
            html.Div(
                [
                    html.H4(t("Smart-city work started", "智慧城市启动年份")),
                    html.Div(
                        [
                            *[
                                html.Span(
                                    [
                                        html.Span(str(v.value), className="rp-score"),
                                        " ",
                                        *_table_chips(v.tables, printed),
                                    ]
                                )
                                for v in start
                            ],
                        ]
                    ),
                ],
                className="rp-city-start",
            ),
            html.Div([_score_block(city, s, printed) for s in systems.values()], className="rp-city-scores"),
            _variants_block(city, "plans", ("Key plans and policies", "重点政策文件"), printed),
            _variants_block(city, "focus", ("Focus areas", "技术重点"), printed),
            html.Div(notes, className="rp-notes") if notes else None,
            html.Div(
                [
                    html.H4(t("Report figures and live KPIs", "报告数据与实时指标")),
                    dcc.Store(id={"type": "pcity-live-key", "city": city.key}, data=city.key),
                    html.Div(live_rows(city, None), id={"type": "pcity-live", "city": city.key}),
                    html.Div(id={"type": "pcity-live-time", "city": city.key}, className="rp-footnote"),
                ],
                className="rp-live",
            ),
            html.Div(
                [
                    html.H4(t("More from the report", "报告中的其他数据")),
                    html.Ul([html.Li(_fact_parts(f)) for f in other_facts]),
                ]
            )
            if other_facts
            else None,
        ],
        className="rp-city",
        id=f"pcity-col-{city.key}",
    )


def leaders(
    first: Leader | None,
    best_by_system: dict[str, Leader | None],
    systems: dict[str, ScoreSystem],
    cities: dict[str, ReportCity],
    printed: dict[str, TableRef],
) -> html.Div:
    """Who started first and who scores highest on each ranking (`best_by_system`, by system key), among
    the chosen cities, with sources; `cities`: the six by key, `printed`: the report's tables by number."""

    def names(keys: Sequence[str]) -> Pair:
        cs = [cities[c] for c in keys]
        return ", ".join(c.name_en for c in cs), "、".join(c.name_zh for c in cs)

    boxes = []
    if first:
        en, zh = names(first.cities)
        boxes.append(
            html.Div(
                [
                    t("Started first: ", "最早启动："),
                    html.Strong(t(f"{en} ({first.value})", f"{zh}（{first.value} 年）")),
                    " ",
                    *_table_chips(first.tables, printed),
                ],
                className="rp-leader",
                id="pcity-first",
            )
        )
    for system in systems.values():
        best = best_by_system.get(system.key)
        if best is None:
            boxes.append(
                html.Div(
                    [t(f"Highest {system.short_en}: ", f"{system.short_zh}最高："), not_in_report()],
                    className="rp-leader",
                )
            )
            continue
        en, zh = names(best.cities)
        boxes.append(
            html.Div(
                [
                    t(f"Highest {system.short_en}: ", f"{system.short_zh}最高："),
                    html.Strong(t(f"{en} ({best.value:g})", f"{zh}（{best.value:g}）")),
                    " ",
                    *_table_chips(best.tables, printed),
                ],
                className="rp-leader",
                id=f"pcity-best-{system.key}",
            )
        )
    return html.Div(boxes, className="rp-leaders")


def comparison_rows(cities: Sequence[ReportCity]) -> list[dict[str, Any]]:
    """One grid row per city; where tables disagree, every value with its table."""

    def joined(variants: list[Variant], fmt, sep: str) -> Pair:
        if not variants:
            return NOT_IN_REPORT
        parts_en, parts_zh = [], []
        for v in variants:
            en, zh = fmt(v.value)
            suffix_en = f" (table {', '.join(v.tables)})" if len(variants) > 1 else ""
            suffix_zh = f"（表 {', '.join(v.tables)}）" if len(variants) > 1 else ""
            parts_en.append(en + suffix_en)
            parts_zh.append(zh + suffix_zh)
        return sep.join(parts_en), sep.join(parts_zh)

    def items(city: ReportCity, attr: str) -> Pair:
        every = tuple(r.source.table or "" for r in city.records)
        en, zh = [], []
        for v in city.items(attr):
            only_en = f" (table {', '.join(v.tables)} only)" if v.tables != every else ""
            only_zh = f"（仅表 {', '.join(v.tables)}）" if v.tables != every else ""
            en.append(en_name(v.value.en, v.value.en_source) + only_en)
            zh.append(v.value.zh + only_zh)
        return "; ".join(en), "；".join(zh)

    def score(city: ReportCity, system: str) -> Pair:
        vs = [v for v in city.score(system) if v.value is not None]
        if not vs:
            return ("not applicable", "不适用") if city.printed(system) else NOT_IN_REPORT
        return joined(vs, lambda x: (f"{x:g}", f"{x:g}"), " / ")

    rows = []
    for c in cities:
        plans, focus = items(c, "plans"), items(c, "focus")
        yiou, deloitte = score(c, "yiou"), score(c, "deloitte")
        tables = sorted({r.source.table or "" for r in c.records}, key=lambda x: [int(p) for p in x.split(".")])
        joined_tables = ", ".join(tables)
        rows.append(
            {
                "city_en": f"{c.name_en} ({c.name_zh})",
                "city_zh": c.name_zh,
                "start": c.start_year,
                "plans_en": plans[0],
                "plans_zh": plans[1],
                "focus_en": focus[0],
                "focus_zh": focus[1],
                "yiou_en": yiou[0],
                "yiou_zh": yiou[1],
                "deloitte_en": deloitte[0],
                "deloitte_zh": deloitte[1],
                "source_en": f"Tables {joined_tables}",
                "source_zh": f"表 {joined_tables}",
                "live_en": f"[Open {c.name_en} →](/?city={c.key})",
                "live_zh": f"[打开{c.name_zh}指挥中心 →](/?city={c.key})",
            }
        )
    return rows
