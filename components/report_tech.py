"""Technology explorer builders: the 16 technologies of tables 2.10–2.26 as grid rows and full cards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dash import dcc, html

from components.i18n import Pair, t, tp
from components.report_ui import contradiction_note, en_name, source_chip, sources_line

if TYPE_CHECKING:
    from data.report import Catalogue, Contradiction, Technology


def tech_name(tech: Technology) -> Pair:
    return en_name(tech.name_en, tech.name_en_source), tech.name_zh


def company_name(key: str, cat: Catalogue) -> Pair:
    c = cat.companies[key]
    return en_name(c.name_en, c.en_source), c.name_zh


def place_name(key: str, cat: Catalogue) -> Pair:
    p = cat.places[key]
    return p.name_en, p.name_zh


def sdg_label(n: int, cat: Catalogue) -> Pair:
    en, zh = cat.sdgs[n]
    return f"SDG {n}: {en}", f"目标 {n}：{zh}"


def challenge_label(key: str, cat: Catalogue) -> Pair:
    c = cat.challenges[key]
    return c.en, c.zh


def tech_rows(techs: Sequence[Technology], cat: Catalogue) -> list[dict[str, Any]]:
    rows = []
    for tech in techs:
        name = tech_name(tech)
        companies = [company_name(k, cat) for k in tech.companies]
        cities = [place_name(k, cat) for k in tech.cities]
        challenges = tech.challenges
        own_src = tech.rows[-1].source
        own = own_src.short_label()
        rows.append(
            {
                "key": tech.key,
                "order": tech.order,
                "name_en": name[0] if name[0] == name[1] else f"{name[0]} ({name[1]})",
                "name_zh": name[1],
                "sdgs": ", ".join(str(n) for n in tech.sdgs),
                "companies_en": ", ".join(f"{en} ({zh})" for en, zh in companies),
                "companies_zh": "、".join(zh for _, zh in companies),
                "cities_en": ", ".join(en for en, _ in cities),
                "cities_zh": "、".join(zh for _, zh in cities),
                "challenges_en": "; ".join(en_name(c.en, "translated") for c in challenges),
                "challenges_zh": "；".join(c.zh for c in challenges),
                "source_en": f"Table 2.10; {own[0]} · §{own_src.section}",
                "source_zh": f"表 2.10；{own[1]} · 第 {own_src.section} 节",
            }
        )
    return rows


def answer(
    techs: Sequence[Technology],
    sdgs: Sequence[int],
    companies: Sequence[str],
    cities: Sequence[str],
    challenges: Sequence[str],
    cat: Catalogue,
) -> list[Any]:
    """The filter's result in words: how many technologies, which, and which companies lead them."""
    total = cat.technology_count
    if not (sdgs or companies or cities or challenges):
        return [html.P(t(f"All {total} technologies of table 2.10.", f"表 2.10 的全部 {total} 种技术。"))]
    crit_en, crit_zh = [], []
    if sdgs:
        crit_en.append("serve " + " or ".join(f"SDG {n}" for n in sdgs))
        crit_zh.append("服务于" + "或".join(f"目标 {n}" for n in sdgs))
    if companies:
        crit_en.append("are led by " + " or ".join(company_name(k, cat)[0] for k in companies))
        crit_zh.append("由" + "或".join(company_name(k, cat)[1] for k in companies) + "领先")
    if cities:
        crit_en.append("lead in " + " or ".join(place_name(k, cat)[0] for k in cities))
        crit_zh.append("在" + "或".join(place_name(k, cat)[1] for k in cities) + "最先进")
    if challenges:
        crit_en.append("face " + " or ".join(f"“{challenge_label(k, cat)[0]}”" for k in challenges))
        crit_zh.append("面临" + "或".join(f"“{challenge_label(k, cat)[1]}”" for k in challenges))
    names = [tech_name(x) for x in techs]
    head = t(
        f"{len(techs)} of {total} technologies " + " and ".join(crit_en) + ": ",
        f"{total} 种技术中有 {len(techs)} 种" + "且".join(crit_zh) + "：",
    )
    out: list[Any] = [
        html.P(
            [
                html.Strong(head, className="rp-answer"),
                t(", ".join(en for en, _ in names) or "none", "、".join(zh for _, zh in names) or "无"),
                ".",
            ],
            id="ptech-answer-techs",
        )
    ]
    counts = Counter(k for x in techs for k in x.companies)
    if counts:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], cat.companies[kv[0]].name_en))
        out.append(
            html.P(
                [
                    html.Strong(
                        t("Companies leading them (number of these technologies): ", "领先企业（涉及的技术数）：")
                    ),
                    t(
                        ", ".join(f"{company_name(k, cat)[0]} ({company_name(k, cat)[1]}) {n}" for k, n in ranked),
                        "、".join(f"{company_name(k, cat)[1]} {n}" for k, n in ranked),
                    ),
                    " ",
                    source_chip(cat.tables["2.10"].source),
                ],
                id="ptech-answer-companies",
            )
        )
    return out


def _chip(label: Pair, href: str | None = None, only: str | None = None, both: bool = False) -> Any:
    children: list[Any] = [t(f"{label[0]} ({label[1]})" if both else label[0], label[1])]
    if only:
        children.append(html.Span(t(f" (table {only} only)", f"（仅表 {only}）"), className="muted"))
    cls = "rp-chip rp-chip-only" if only else "rp-chip"
    return dcc.Link(children, href=href, className=cls) if href else html.Span(children, className=cls)


def _only(tech: Technology, attr: str, item: Any) -> str | None:
    tables = tech.tables_naming(attr, item)
    return tables[0] if len(tables) < len(tech.rows) else None


def _chips(
    tech: Technology,
    title: Pair,
    attr: str,
    label: Callable[[Any], Pair],
    href: Callable[[Any], str],
    both: bool = False,
) -> html.Div:
    """A heading and a linked chip for each of the technology's companies, SDGs or cities (`attr`), marked
    when only one of its two tables names it."""
    return html.Div(
        [
            html.H3(t(*title)),
            html.Div([_chip(label(k), href(k), _only(tech, attr, k), both=both) for k in getattr(tech, attr)]),
        ]
    )


def tech_card(tech: Technology, cat: Catalogue, contradictions: Sequence[Contradiction]) -> html.Div:
    """`contradictions`: the report's contradictions about this technology."""
    name = tech_name(tech)
    own = tech.rows[-1].source
    six = cat.report_cities
    notes = [html.Div(t(en, zh), className="rp-note rp-note-wording") for en, zh in tech.notes]
    notes += [contradiction_note(c) for c in contradictions]
    printed = cat.tables[own.table or tech.table]
    caption = f"{printed.printed or '(no caption)'} {printed.title_zh}"
    if own.table != tech.table:
        where = t(
            f"Its rows are printed under “{caption}”: the report swapped the titles of tables {tech.table} and "
            f"{own.table}.",
            f"其数据印在“{caption}”之下：报告把表 {tech.table} 与表 {own.table} 的标题互换了。",
        )
    elif printed.printed is None:
        where = t("Own table printed without a caption.", "本技术表原文未印表题。")
    else:
        where = t(f"Own table as printed: “{caption}”.", f"本技术表印刷表题：“{caption}”。")
    renamed = (
        t(f" Name in table 2.10: {tech.t210_name_zh}.", f"表 2.10 中的名称：{tech.t210_name_zh}。")
        if tech.t210_name_zh != tech.name_zh
        else None
    )
    return html.Div(
        [
            html.H2(t(name[0] if name[0] == name[1] else f"{name[0]} ({name[1]})", name[1]), id="ptech-card-title"),
            html.Div(
                [
                    source_chip(cat.tables["2.10"].source),
                    " ",
                    source_chip(own),
                    " ",
                    html.Span([where, renamed], className="rp-footnote"),
                ],
                className="rp-sources",
            ),
            html.Div(
                [
                    html.H3(t("What it is", "是什么")),
                    html.P(
                        [
                            html.Span(f"{tech.summary_en}†", className="lang-en"),
                            html.Span(tech.summary_zh, className="lang-zh"),
                        ]
                    ),
                    html.P(f"“{tech.summary_zh}”", className="lang-en rp-footnote"),
                    sources_line([tech.text_source]),
                ]
            ),
            html.Div(
                [
                    _chips(
                        tech,
                        ("Leading companies", "重点私营企业"),
                        "companies",
                        lambda k: company_name(k, cat),
                        lambda k: f"/pilots/technologies?company={k}",
                        both=True,
                    ),
                    _chips(
                        tech,
                        ("SDGs it serves", "解决的可持续发展目标"),
                        "sdgs",
                        lambda n: sdg_label(n, cat),
                        lambda n: f"/pilots/technologies?sdg={n}",
                    ),
                    _chips(
                        tech,
                        ("Leading cities", "最先进的城市"),
                        "cities",
                        lambda k: place_name(k, cat),
                        lambda k: f"/pilots/cities?cities={k}" if k in six else f"/pilots/technologies?city={k}",
                        both=True,
                    ),
                    html.Div(
                        [
                            html.H3(t("Challenges", "挑战")),
                            html.Ul(
                                [
                                    html.Li(
                                        [
                                            t(f"{c.en}† ({c.zh})", c.zh),
                                            " → ",
                                            *[
                                                _chip(challenge_label(k, cat), f"/pilots/recommendations?challenge={k}")
                                                for k in c.categories
                                            ],
                                        ]
                                    )
                                    for c in tech.challenges
                                ]
                            ),
                            html.Div(
                                t(
                                    "Grouping of challenges and links to recommendations: our reading.",
                                    "挑战归类及与建议的对应：本平台解读。",
                                ),
                                className="rp-footnote",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.H3(t("Key applications", "重点应用")),
                            html.Ul([html.Li(t(f"{a.en}† ({a.zh})", a.zh)) for a in tech.applications]),
                            html.H3(t("Case study", "案例研究")),
                            html.Ul([html.Li(t(f"{c.en}† ({c.zh})", c.zh)) for c in tech.case_studies]),
                        ]
                    ),
                ],
                className="rp-card-grid",
            ),
            html.Div(notes, className="rp-notes") if notes else None,
        ],
        className="rp-card",
        id="ptech-card",
    )


def card_hint() -> html.P:
    return html.P(
        tp(
            (
                "Click a technology in the table (or choose one above) to open its full card.",
                "点击表中的技术（或在上方选择）查看完整卡片。",
            )
        ),
        className="rp-footnote",
    )
