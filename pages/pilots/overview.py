"""Pilots overview (/pilots): table 2.2's national pilots by ministry and year, and a map of the six
leading cities and of every place the report names as running a City Brain.

Filter in the URL: ``?agency=miit`` (comma-separated: mohurd, miit, ndrc, most) keeps the programmes
an agency ran alone or jointly.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from components.i18n import t, tp
from components.report_charts import GRAPH_CONFIG, pilots_by_agency, pilots_by_year
from components.report_grid import Col, report_grid
from components.report_map import DEV_COLORS, MapPoint, points_map
from components.report_ui import (
    en_name,
    filter_dropdown,
    ignored_values,
    option,
    panel,
    report_page,
    source_chip,
    sources_line,
    split_param,
)
from data import report as rd
from data.config import load_settings
from pages.pilots._shared import STATUS_LABELS, filters_in_url, six_city_outlines

dash.register_page(
    __name__,
    path="/pilots",
    name="Pilots",
    title="City Brain · Smart-city pilots",
    nav=("Pilots (report)", "试点（报告）"),
    order=10,
    access="public",  # the report's data is public
    id_prefix="pov",
)

P = "pov"
CITY_COLOR = "#0b6bcb"


def deployment_places() -> dict[str, list[rd.Deployment]]:
    by_place: dict[str, list[rd.Deployment]] = {}
    for d in rd.deployments():
        by_place.setdefault(d.place, []).append(d)
    return by_place


def developer_label(key: str) -> tuple[str, str]:
    dev = rd.developers()[key]
    return en_name(dev.name_en, dev.name_en_source), dev.name_zh


def brain_point(place_key: str, deps: list[rd.Deployment], label_on: bool = True) -> MapPoint:
    pl = rd.place(place_key)
    status = "deployed" if any(d.status == "deployed" for d in deps) else deps[0].status
    lines = []
    for d in deps:
        en, zh = developer_label(d.developer)
        st = STATUS_LABELS[d.status]
        lines.append(html.Li([t(f"{en}: {st[0]}", f"{zh}：{st[1]}"), " ", *[source_chip(s) for s in d.sources[:2]]]))
    popup = [
        html.Strong(t(f"{pl.name_en} ({pl.name_zh})", pl.name_zh)),
        html.Div(t("City Brain", "城市大脑"), className="muted"),
        html.Ul(lines),
        dcc.Link(t("Details →", "详情 →"), href=f"/pilots/city-brain?place={place_key}"),
    ]
    small = pl.kind == "district"
    return MapPoint(
        key=place_key,
        lat=pl.lat or 0.0,
        lon=pl.lon or 0.0,
        label=(pl.name_en, pl.name_zh),
        popup=popup,
        color=DEV_COLORS.get(deps[0].developer, DEV_COLORS["unnamed"]),
        radius=5 if small else 6,
        dashed=status != "deployed",
        permanent_label=label_on and not small,
    )


def city_point(city: rd.ReportCity) -> MapPoint:
    pl = rd.place(city.key)
    popup = [
        html.Strong(t(f"{city.name_en} ({city.name_zh})", city.name_zh)),
        html.Div(
            t(f"Smart-city work started {city.start_year}", f"{city.start_year} 年启动智慧城市建设"),
        ),
        sources_line([rd.Source("2.3", "2.1.4"), rd.Source(city.own_table, city.section)]),
        html.Div(
            [
                dcc.Link(t("Compare →", "对比 →"), href=f"/pilots/cities?cities={city.key}"),
                " · ",
                html.A(t("Live command centre →", "实时指挥中心 →"), href=f"/?city={city.key}"),
            ]
        ),
    ]
    return MapPoint(city.key, pl.lat or 0.0, pl.lon or 0.0, (city.name_en, city.name_zh), popup, CITY_COLOR, 11)


def brain_index() -> html.Div:
    """The City Brain places by developer, as a legend and a way into the developers page."""
    by_dev: dict[str, list[str]] = {}
    for d in rd.deployments():
        by_dev.setdefault(d.developer, []).append(d.place)
    items = []
    for key, places in by_dev.items():
        en, zh = developer_label(key)
        names_en = ", ".join(dict.fromkeys(rd.place(p).name_en for p in places))
        names_zh = "、".join(dict.fromkeys(rd.place(p).name_zh for p in places))
        items.append(
            html.Li(
                [
                    html.Span(className="legend-swatch", style={"background": DEV_COLORS.get(key, "#868e96")}),
                    html.Div(
                        [
                            dcc.Link(t(en, zh), href=f"/pilots/city-brain?developer={key}"),
                            html.Div(t(names_en, names_zh), className="rp-footnote"),
                        ]
                    ),
                ]
            )
        )
    n_places = len({d.place for d in rd.deployments()})
    return html.Div(
        [
            html.H3(t(f"City Brain: {n_places} places named", f"城市大脑：报告点名的 {n_places} 个地点")),
            html.Ul(items, className="rp-legend rp-brain-index"),
            html.P(
                t(
                    "Large blue rings: the six leading cities. Dots: City Brain, coloured by developer.",
                    "蓝色大圆环：六个领先城市。圆点：城市大脑，按开发者着色。",
                ),
                className="rp-footnote",
            ),
        ],
        className="rp-city",
    )


def overview_map() -> Any:
    settings = load_settings()
    six = list(rd.report_cities().values())
    # Only the six cities carry permanent labels here (the others would pile up in the river deltas);
    # the City Brain page labels every marker it shows.
    # The City Brain dots are drawn over the six cities' larger rings, so both stay visible.
    brain = [brain_point(k, deps, label_on=False) for k, deps in deployment_places().items()]
    return points_map(
        f"{P}-map",
        [
            (
                ("Six leading cities (tables 2.3–2.9)", "六个领先城市（表 2.3–2.9）"),
                f"{P}-six",
                [city_point(c) for c in six],
            ),
            (("City Brain (chapter 3)", "城市大脑（第 3 章）"), f"{P}-brain", brain),
        ],
        six_city_outlines(),
        settings.tile_url,
        settings.tile_attribution,
    )


AGENCY_FILTER = ["mohurd", "miit", "ndrc", "most"]
PILOT_COLUMNS = [
    Col("group", ("Ministry (as printed)", "政府机构"), "group_en", "group_zh", width=150),
    Col("programme", ("Programme", "试点名称"), "programme_en", "programme_zh", flex=3, wrap=True),
    Col("date", ("Announced", "发布日期"), "date_en", "date_zh", width=120),
    Col("count", ("Pilots", "数量"), "count", kind="number", width=100),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=170),
]


def pilot_rows(pilots: tuple[rd.Pilot, ...]) -> list[dict[str, Any]]:
    rows = []
    for p in pilots:
        src = p.source.label()
        year, month = p.date.split("-")
        rows.append(
            {
                "id": p.id,
                "group_en": en_name(p.group_en, p.group_en_source),
                "group_zh": p.group_zh,
                "programme_en": en_name(p.programme_en, p.programme_en_source),
                "programme_zh": p.programme_zh,
                "date_en": p.date,
                "date_zh": f"{year} 年 {int(month)} 月",
                "count": p.count,
                "source_en": src[0],
                "source_zh": src[1],
            }
        )
    return rows


def agency_answer(keys: list[str]) -> list[Any]:
    """What the filter shows in words: per agency, pilots alone and jointly, with the source."""
    total = rd.totals()["pilots_total"]
    pilots = rd.pilots()
    if not keys:
        shown = sum(p.count for p in pilots)
        return [
            html.P(
                [
                    html.Strong(f"{shown}"),
                    t(
                        f" pilots in {len(pilots)} programmes led by central ministries by the end of 2017; "
                        f"the report's total is {total.value}.",
                        f" 个试点，共 {len(pilots)} 个试点计划，截至 2017 年底由中央部委领导；"
                        f"报告总计 {total.value} 个。",
                    ),
                    " ",
                    source_chip(total.source),
                ]
            )
        ]
    out = []
    for key in keys:
        ag = rd.agencies()[key]
        alone = [p for p in pilots if p.agencies == (key,)]
        joint = [p for p in pilots if key in p.agencies and len(p.agencies) > 1]
        n_alone, n_joint = sum(p.count for p in alone), sum(p.count for p in joint)
        partners_en = ", ".join(sorted({rd.agencies()[a].abbr_en for p in joint for a in p.agencies if a != key}))
        partners_zh = "、".join(sorted({rd.agencies()[a].short_zh for p in joint for a in p.agencies if a != key}))
        en = f"{ag.abbr_en} ({ag.name_en}) ran {n_alone} pilots on its own in {len(alone)} programmes"
        zh = f"{ag.short_zh}单独开展了 {len(alone)} 个试点计划、共 {n_alone} 个试点"
        if joint:
            en += f", and {n_joint} jointly with {partners_en} in {len(joint)} programmes: {n_alone + n_joint} in all"
            zh += f"；与{partners_zh}联合开展 {len(joint)} 个计划、{n_joint} 个试点，合计 {n_alone + n_joint} 个"
        en += f" (of the report's {total.value})."
        zh += f"（报告总计 {total.value} 个）。"
        if key in ("ndrc", "most"):
            en += " Table 2.2 says “and others” without naming them."
            zh += "表 2.2 写作“等”，未列出其他机构。"
        out.append(html.P([html.Strong(t(en, zh), className="rp-answer"), " ", source_chip(rd.Source("2.2", "2.1.4"))]))
    return out


def _summary_cards() -> html.Div:
    tot = rd.totals()
    devs = rd.developers()
    in_31 = [d for d in devs.values() if d.in_table_31]
    cards = [
        (
            str(tot["pilots_total"].value),
            ("national pilots (to end-2017)", "个国家级试点（至 2017 年底）"),
            tot["pilots_total"].source,
        ),
        ("6", ("leading cities compared", "个领先城市"), rd.Source("2.3", "2.1.4")),
        (str(len(rd.technologies())), ("urban technologies", "种城市科技"), tot["technologies_total"].source),
        (
            str(len(in_31)),
            (
                "City Brain developers in table 3.1 (+ Baidu, §3.3.2.3)",
                "个城市大脑开发者（表 3.1；另有百度，第 3.3.2.3 节）",
            ),
            rd.Source("3.1", "3.2.3"),
        ),
        (
            str(tot["alibaba_cities"].value),
            ("cities with Alibaba's City Brain", "个城市应用阿里城市大脑"),
            tot["alibaba_cities"].source,
        ),
    ]
    return html.Div(
        [
            html.Div(
                [
                    html.Div(value, className="rp-stat-value"),
                    html.Div(tp(label), className="rp-stat-label"),
                    source_chip(src),
                ],
                className="rp-stat",
            )
            for value, label, src in cards
        ],
        className="rp-stats",
    )


def layout(agency: str | None = None, **_query: Any) -> html.Div:
    requested = split_param(agency)
    keys = [a for a in requested if a in AGENCY_FILTER]
    meta = rd.report_meta()
    return report_page(
        P,
        "/pilots",
        ("Smart-city pilots in the UN-Habitat report", "联合国人居署报告中的智慧城市试点"),
        (
            f"From “{meta['title_en']}” ({meta['publisher_en']}), chapters 2–4. Every figure shows its table "
            "and section; live figures elsewhere in this dashboard are simulated.",
            f"数据来自《{meta['title_zh']}》（{meta['publisher_zh']}）第 2–4 章。每个数字都注明表号与章节；"
            "本平台其他页面的实时数据为模拟数据。",
        ),
        [
            _summary_cards(),
            html.Div(
                filter_dropdown(
                    f"{P}-agency",
                    ("Ministry", "部委"),
                    [
                        option(k, f"{a.abbr_en} · {a.name_en}", a.short_zh)
                        for k, a in rd.agencies().items()
                        if k in AGENCY_FILTER
                    ],
                    keys,
                    placeholder="All ministries · 全部部委",
                ),
                className="rp-filters",
            ),
            ignored_values([a for a in requested if a not in AGENCY_FILTER]),
            html.Div(id=f"{P}-answer", className="rp-answers", **{"aria-live": "polite"}),
            html.Div(
                [
                    dcc.Graph(id=f"{P}-by-agency", config=GRAPH_CONFIG, className="rp-graph"),
                    dcc.Graph(id=f"{P}-by-year", config=GRAPH_CONFIG, className="rp-graph"),
                ],
                className="rp-two",
            ),
            report_grid(
                f"{P}-pilots",
                PILOT_COLUMNS,
                title=("Table 2.2 · Pilots under each government agency", "表 2.2 · 每个政府机构下的试点"),
                filename="table-2.2-pilots",
            ),
            panel(
                (
                    "Map: the six leading cities and every City Brain the report names",
                    "地图：六个领先城市与报告提到的全部城市大脑",
                ),
                [
                    html.Div([overview_map(), brain_index()], className="rp-map-row"),
                    html.P(
                        t(
                            "Markers sit on approximate city (or district) centres written by hand (WGS84), not taken "
                            "from the report. Outlines: the six cities' real boundaries. Dashed markers: planned or in "
                            "development. No base map offline (set TILE_URL for one).",
                            "标记位于手工填写的城市（或区）大致中心（WGS84），并非来自报告。轮廓为六个城市的真实边界。"
                            "虚线标记：计划中或开发中。离线时无底图（设置 TILE_URL 可加底图）。",
                        ),
                        className="rp-footnote",
                    ),
                ],
                className="panel rp-panel",
            ),
        ],
    )


filters_in_url(P, "agency")


@callback(
    Output(f"{P}-answer", "children"),
    Output({"type": "rg-grid", "key": f"{P}-pilots"}, "rowData"),
    Output(f"{P}-by-agency", "figure"),
    Output(f"{P}-by-year", "figure"),
    Input(f"{P}-agency", "value"),
    Input("app-lang", "data"),
    Input("app-theme", "data"),
)
def show_pilots(keys: list[str] | None, lang: str | None, theme: str | None):
    keys = [k for k in (keys or []) if k in AGENCY_FILTER]
    chosen = tuple(p for p in rd.pilots() if not keys or any(k in p.agencies for k in keys))
    groups = rd.pilot_groups()
    return (
        agency_answer(keys),
        pilot_rows(chosen),
        pilots_by_agency(chosen, groups, lang or "zh", theme or "light"),
        pilots_by_year(chosen, groups, lang or "zh", theme or "light"),
    )
