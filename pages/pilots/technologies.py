"""Technology explorer (/pilots/technologies): the 16 urban technologies of tables 2.10–2.26, filtered by
SDG, company, city and challenge; each opens to its full card with sources.

Filters in the URL: ``?sdg=11&company=alibaba&city=hangzhou&challenge=infrastructure&tech=mobility``
(comma-separated values; any value within a filter matches, all filters must match).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, ctx, html, no_update

from components.i18n import t
from components.report_grid import Col, report_grid
from components.report_tech import (
    answer,
    card_hint,
    challenge_label,
    company_name,
    place_name,
    sdg_label,
    tech_card,
    tech_name,
    tech_rows,
)
from components.report_ui import (
    contradiction_notes,
    ignored_values,
    option,
    report_filter,
    report_page,
    split_param,
)
from data import report as rd
from pages.pilots._shared import filters_in_url

dash.register_page(
    __name__,
    path="/pilots/technologies",
    name="Technology explorer",
    title="City Brain · Urban technologies",
    order=12,
    access="public",
    id_prefix="ptech",
)

P = "ptech"
GRID_KEY = f"{P}-list"
COLUMNS = [
    Col(
        "name",
        ("Technology", "技术"),
        "name_en",
        "name_zh",
        width=210,
        wrap=True,
        pinned=True,
        extra={"cellClass": "rp-grid-link"},
    ),
    Col("sdgs", ("SDGs", "可持续发展目标"), "sdgs", width=140),
    Col("companies", ("Leading companies", "重点私营企业"), "companies_en", "companies_zh", flex=3, wrap=True),
    Col("cities", ("Leading cities", "最先进的城市"), "cities_en", "cities_zh", flex=2, wrap=True),
    Col("challenges", ("Challenges", "挑战"), "challenges_en", "challenges_zh", flex=3, wrap=True),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=190, wrap=True),
]


def _options() -> dict[str, list[dict]]:
    techs = rd.technologies()
    sdg_keys = sorted({n for x in techs for n in x.sdgs})
    company_count: dict[str, int] = {}
    for x in techs:
        for k in x.companies:
            company_count[k] = company_count.get(k, 0) + 1
    companies = sorted(company_count, key=lambda k: (-company_count[k], rd.company(k).name_en))
    cities = list(dict.fromkeys(k for x in techs for k in x.cities))
    cities.sort(key=lambda k: rd.place(k).name_en)
    challenge_keys = [k for k in rd.challenges() if any(k in x.challenge_keys for x in techs)]
    cat = rd.catalogue()
    return {
        "sdg": [option(str(n), *sdg_label(n, cat)) for n in sdg_keys],
        "company": [
            option(k, f"{company_name(k, cat)[0]} ({company_name(k, cat)[1]})", company_name(k, cat)[1])
            for k in companies
        ],
        "city": [
            option(k, f"{place_name(k, cat)[0]} ({place_name(k, cat)[1]})", place_name(k, cat)[1]) for k in cities
        ],
        "challenge": [option(k, *challenge_label(k, cat)) for k in challenge_keys],
        "tech": [
            option(
                x.key,
                tech_name(x)[0] if tech_name(x)[0] == x.name_zh else f"{tech_name(x)[0]} ({x.name_zh})",
                x.name_zh,
            )
            for x in techs
        ],
    }


def layout(
    sdg: str | None = None,
    company: str | None = None,
    city: str | None = None,
    challenge: str | None = None,
    tech: str | None = None,
    **_query: Any,
) -> html.Div:
    opts = _options()
    chosen, unknown = {}, []
    for name, raw in (("sdg", sdg), ("company", company), ("city", city), ("challenge", challenge), ("tech", tech)):
        valid = {o["value"] for o in opts[name]}
        values = split_param(raw)
        chosen[name] = [v for v in values if v in valid]
        unknown += [f"{name}={v}" for v in values if v not in valid]
    return report_page(
        P,
        "/pilots/technologies",
        ("Technology explorer: 16 urban technologies", "技术浏览：16 种城市科技"),
        (
            "Table 2.10 compares 16 technologies; sections 2.2.1–2.2.16 and tables 2.11–2.26 describe each. "
            "Where a technology's own table differs from table 2.10, both are shown.",
            "表 2.10 对比了 16 种技术；第 2.2.1–2.2.16 节及表 2.11–2.26 分别介绍。技术表与表 2.10 不一致时两者均列出。",
        ),
        [
            html.Div(
                [
                    report_filter(f"{P}-sdg", ("SDG", "可持续发展目标"), opts["sdg"], chosen["sdg"]),
                    report_filter(f"{P}-company", ("Company", "企业"), opts["company"], chosen["company"]),
                    report_filter(f"{P}-city", ("Leading city", "最先进的城市"), opts["city"], chosen["city"]),
                    report_filter(f"{P}-challenge", ("Challenge", "挑战"), opts["challenge"], chosen["challenge"]),
                    report_filter(
                        f"{P}-tech",
                        ("Technology card", "技术卡片"),
                        opts["tech"],
                        (chosen["tech"] or [None])[0],
                        multi=False,
                        placeholder="None · 无",
                    ),
                    html.Button(t("Clear filters", "清除筛选"), id=f"{P}-clear", className="btn"),
                ],
                className="rp-filters",
            ),
            ignored_values(unknown),
            html.Div(id=f"{P}-answer", className="rp-answers", **{"aria-live": "polite"}),
            html.Div(id=f"{P}-card-area"),
            report_grid(
                GRID_KEY,
                COLUMNS,
                title=("Technologies (table 2.10 and tables 2.11–2.26)", "技术（表 2.10 及表 2.11–2.26）"),
                filename="technologies-tables-2.10-2.26",
            ),
            contradiction_notes(rd.contradictions_for("technologies", "")),
            html.P(
                t(
                    "SDG names: the UN's official short titles. Challenge groups (“Challenge” filter) are our "
                    "grouping of the report's challenge texts.",
                    "可持续发展目标名称采用报告译名。“挑战”筛选中的分组为本平台对报告挑战文字的归类。",
                ),
                className="rp-footnote",
            ),
        ],
    )


filters_in_url(P, "sdg", "company", "city", "challenge", "tech")


@callback(
    Output(f"{P}-answer", "children"),
    Output({"type": "rg-grid", "key": GRID_KEY}, "rowData"),
    Input(f"{P}-sdg", "value"),
    Input(f"{P}-company", "value"),
    Input(f"{P}-city", "value"),
    Input(f"{P}-challenge", "value"),
)
def filter_technologies(sdg, company, city, challenge):
    sdgs = [int(n) for n in sdg or []]
    techs = rd.filter_technologies(sdgs, company or [], city or [], challenge or [])
    cat = rd.catalogue()
    return answer(techs, sdgs, company or [], city or [], challenge or [], cat), tech_rows(techs, cat)


@callback(
    Output(f"{P}-card-area", "children"),
    Input(f"{P}-tech", "value"),
)
def open_card(tech: str | None):
    if not tech or tech not in {x.key for x in rd.technologies()}:
        return card_hint()
    return tech_card(rd.technology(tech), rd.catalogue(), rd.contradictions_for("technologies", tech))


@callback(
    Output(f"{P}-tech", "value"),
    Input({"type": "rg-grid", "key": GRID_KEY}, "cellClicked"),
    State({"type": "rg-grid", "key": GRID_KEY}, "virtualRowData"),
    prevent_initial_call=True,
)
def click_row(cell: dict | None, rows: list[dict] | None):
    """A click on a row opens that technology's card."""
    if not cell:
        return no_update
    index = cell.get("rowIndex")
    rows = rows or []
    if index is None or index >= len(rows):
        return no_update
    return rows[index].get("key")


@callback(
    Output(f"{P}-sdg", "value"),
    Output(f"{P}-company", "value"),
    Output(f"{P}-city", "value"),
    Output(f"{P}-challenge", "value"),
    Input(f"{P}-clear", "n_clicks"),
    prevent_initial_call=True,
)
def clear_filters(n: int | None):
    if not n or ctx.triggered_id != f"{P}-clear":
        return no_update, no_update, no_update, no_update
    return [], [], [], []
