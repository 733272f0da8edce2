"""Recommendations (/pilots/recommendations): chapter 4's R1.1–R6.3 and the City Brain recommendations
of §3.4.3, filterable by the challenge each answers.

Filters in the URL: ``?challenge=cost_financing&group=3`` (comma-separated; group 0 = §3.4.3).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from components.i18n import t
from components.report_grid import Col, report_grid
from components.report_tech import tech_name
from components.report_ui import (
    ignored_values,
    option,
    report_filter,
    report_page,
    source_chip,
    split_param,
)
from data import report as rd
from pages.pilots._shared import filters_in_url

dash.register_page(
    __name__,
    path="/pilots/recommendations",
    name="Recommendations",
    title="City Brain · Recommendations",
    order=14,
    access="public",
    id_prefix="prec",
)

P = "prec"
CITY_BRAIN_GROUP = ("City Brain (§3.4.3)", "城市大脑（第 3.4.3 节）")
BASIS = {"report": ("stated in the report", "报告明确指出"), "editorial": ("our reading", "本平台解读")}
COLUMNS = [
    Col("code", ("No.", "编号"), "code", width=80, pinned=True),
    Col("group", ("Theme", "主题"), "group_en", "group_zh", flex=2, wrap=True),
    Col("text", ("Recommendation", "建议"), "text_en", "text_zh", flex=4, wrap=True),
    Col("challenges", ("Challenges it answers", "针对的挑战"), "challenges_en", "challenges_zh", flex=2, wrap=True),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=130),
]


def group_label(number: int) -> tuple[str, str]:
    if number == 0:
        return CITY_BRAIN_GROUP
    g = next(g for g in rd.recommendation_groups() if g.number == number)
    return f"{g.number}. {g.en}†", f"{g.number}. {g.zh}"


def _challenge_text(link: rd.ChallengeLink) -> tuple[str, str]:
    c = rd.challenges()[link.key]
    basis = BASIS[link.basis]
    return f"{c.en} ({basis[0]})", f"{c.zh}（{basis[1]}）"


def rec_rows(recs: tuple[rd.Recommendation, ...]) -> list[dict[str, Any]]:
    rows = []
    for r in recs:
        group = group_label(r.group)
        chs = [_challenge_text(c) for c in r.challenges]
        src = r.source.label()
        rows.append(
            {
                "code": r.code,
                "group_en": group[0],
                "group_zh": group[1],
                "text_en": f"{r.en}†",
                "text_zh": r.zh,
                "challenges_en": "; ".join(en for en, _ in chs),
                "challenges_zh": "；".join(zh for _, zh in chs),
                "source_en": src[0],
                "source_zh": src[1],
            }
        )
    return rows


def rec_item(r: rd.Recommendation) -> html.Div:
    chips = []
    for link in r.challenges:
        c = rd.challenges()[link.key]
        basis = BASIS[link.basis]
        chips.append(
            dcc.Link(
                [t(c.en, c.zh), html.Span(t(f" · {basis[0]}", f" · {basis[1]}"), className="rp-basis")],
                href=f"/pilots/recommendations?challenge={c.key}",
                className="rp-chip" if link.basis == "report" else "rp-chip rp-chip-only",
            )
        )
    return html.Div(
        [
            html.Span(r.code, className="rp-rec-code"),
            html.Div(
                [
                    html.Div(t(f"{r.en}†", r.zh)),
                    html.Div(r.zh, className="lang-en rp-footnote"),
                    html.Div([*chips, source_chip(r.source)]),
                ]
            ),
        ],
        className="rp-rec",
        id=f"{P}-rec-{r.code.replace('.', '-')}",
    )


def rec_list(recs: tuple[rd.Recommendation, ...]) -> list[Any]:
    out = []
    for number in [g.number for g in rd.recommendation_groups()] + [0]:
        items = [r for r in recs if r.group == number]
        if items:
            out.append(
                html.Div([html.H3(t(*group_label(number))), *[rec_item(r) for r in items]], className="rp-rec-group")
            )
    return out or [
        html.P(t("No recommendation matches the filters.", "没有符合筛选条件的建议。"), className="rp-missing")
    ]


def answer(challenge_keys: list[str], groups: list[int], recs: tuple[rd.Recommendation, ...]) -> list[Any]:
    if not challenge_keys and not groups:
        n4 = len([r for r in rd.recommendations() if r.group])
        n3 = len([r for r in rd.recommendations() if not r.group])
        return [
            html.P(
                t(
                    f"{n4} recommendations in 6 themes (chapter 4) and {n3} for City Brain (§3.4.3).",
                    f"第 4 章 6 个主题下共 {n4} 条建议，另有第 3.4.3 节关于城市大脑的 {n3} 条建议。",
                )
            )
        ]
    out: list[Any] = []
    codes = ", ".join(r.code for r in recs) or "—"
    for key in challenge_keys:
        c = rd.challenges()[key]
        techs = rd.technologies_facing(key)
        n_answering = len([r for r in recs if key in r.challenge_keys])
        out.append(
            html.P(
                [
                    html.Strong(
                        t(
                            f"“{c.en}”: {n_answering} recommendation(s) answer it.",
                            f"“{c.zh}”：有 {n_answering} 条建议针对该挑战。",
                        ),
                        className="rp-answer",
                    ),
                    " ",
                    t("Where the report names this challenge: ", "报告中提到该挑战之处："),
                    *[source_chip(s) for s in c.sources],
                ]
            )
        )
        if techs:
            out.append(
                html.P(
                    [
                        t("Technologies facing it: ", "面临该挑战的技术："),
                        *[
                            dcc.Link(t(*tech_name(x)), href=f"/pilots/technologies?tech={x.key}", className="rp-chip")
                            for x in techs
                        ],
                        dcc.Link(
                            t("all in the explorer →", "在技术浏览中查看 →"),
                            href=f"/pilots/technologies?challenge={key}",
                        ),
                    ]
                )
            )
    out.append(html.P(t(f"Shown: {codes}", f"显示：{codes}"), className="rp-footnote"))
    return out


def layout(challenge: str | None = None, group: str | None = None, **_query: Any) -> html.Div:
    req_ch, req_g = split_param(challenge), split_param(group)
    chs = [c for c in req_ch if c in rd.challenges()]
    valid_groups = {str(g.number) for g in rd.recommendation_groups()} | {"0"}
    grs = [g for g in req_g if g in valid_groups]
    unknown = [f"challenge={c}" for c in req_ch if c not in chs] + [f"group={g}" for g in req_g if g not in grs]
    note = rd.link_note()
    return report_page(
        P,
        "/pilots/recommendations",
        ("Recommendations and the challenges they answer", "建议及其针对的挑战"),
        (
            "Chapter 4's recommendations (R1.1–R6.3) and the City Brain recommendations of §3.4.3. "
            "Challenges come from tables 2.10–2.26, §3.4.2 and chapters 1 and 4.",
            "第 4 章建议（R1.1–R6.3）及第 3.4.3 节关于城市大脑的建议。挑战来自表 2.10–2.26、第 3.4.2 节及第 1、4 章。",
        ),
        [
            html.Div(
                [
                    report_filter(
                        f"{P}-challenge",
                        ("Challenge", "挑战"),
                        [option(k, c.en, c.zh) for k, c in rd.challenges().items()],
                        chs,
                    ),
                    report_filter(
                        f"{P}-group",
                        ("Theme", "主题"),
                        [
                            option(str(g.number), f"{g.number}. {g.en}", f"{g.number}. {g.zh}")
                            for g in rd.recommendation_groups()
                        ]
                        + [option("0", *CITY_BRAIN_GROUP)],
                        grs,
                    ),
                ],
                className="rp-filters",
            ),
            ignored_values(unknown),
            html.Div(t(*note), className="rp-note rp-note-wording", role="note"),
            html.Div(id=f"{P}-answer", className="rp-answers", **{"aria-live": "polite"}),
            html.Div(id=f"{P}-list", className="rp-notes"),
            report_grid(
                f"{P}-table",
                COLUMNS,
                title=("Recommendations (chapter 4 and §3.4.3)", "建议（第 4 章及第 3.4.3 节）"),
                filename="recommendations-chapter-4",
            ),
        ],
    )


filters_in_url(P, "challenge", "group")


@callback(
    Output(f"{P}-answer", "children"),
    Output(f"{P}-list", "children"),
    Output({"type": "rg-grid", "key": f"{P}-table"}, "rowData"),
    Input(f"{P}-challenge", "value"),
    Input(f"{P}-group", "value"),
)
def show(challenge: list[str] | None, group: list[str] | None):
    chs = [c for c in challenge or [] if c in rd.challenges()]
    grs = [int(g) for g in group or [] if str(g).isdigit()]
    recs = rd.filter_recommendations(chs, grs)
    return answer(chs, grs, recs), rec_list(recs), rec_rows(recs)
