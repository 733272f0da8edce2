"""City Brain developers (/pilots/city-brain): who built what where (table 3.1 and chapter 3), on a map
and in tables, with the figures the report gives for each place.

Filters in the URL: ``?developer=alibaba&place=hangzhou`` (comma-separated).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, html

from components.i18n import t, tp
from components.report_grid import Col, report_grid
from components.report_map import DEV_COLORS, MapPoint, markers, points_map
from components.report_ui import (
    NOT_IN_REPORT,
    contradiction_notes,
    en_name,
    ignored_values,
    option,
    report_filter,
    report_page,
    source_chip,
    split_param,
)
from data import report as rd
from data.config import load_settings
from pages.pilots._shared import STATUS_LABELS, filters_in_url, six_city_outlines

dash.register_page(
    __name__,
    path="/pilots/city-brain",
    name="City Brain developers",
    title="City Brain · Developers",
    order=13,
    access="public",
    id_prefix="pcb",
)

P = "pcb"
DEV_COLUMNS = [
    Col("developer", ("Developer", "开发者"), "developer_en", "developer_zh", width=170, pinned=True),
    Col("product", ("Product", "城市大脑名称"), "product_en", "product_zh", width=200, wrap=True),
    Col("functions", ("Main functions", "主要功能"), "functions_en", "functions_zh", flex=2, wrap=True),
    Col("count", ("Cities with it", "拥有城市大脑的城市数量"), "count_en", "count_zh", width=200, wrap=True),
    Col(
        "examples",
        ("Example places (table 3.1)", "应用地示例（表 3.1）"),
        "examples_en",
        "examples_zh",
        width=170,
        wrap=True,
    ),
    Col("named", ("All places the report names", "报告提到的全部地点"), "named_en", "named_zh", flex=2, wrap=True),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=160, wrap=True),
]
DEP_COLUMNS = [
    Col("place", ("Place", "地点"), "place_en", "place_zh", width=170, pinned=True, wrap=True),
    Col("developer", ("Developer", "开发者"), "developer_en", "developer_zh", width=160),
    Col("status", ("Status", "状态"), "status_en", "status_zh", width=120),
    Col("since", ("Since", "起始年份"), "since_en", "since_zh", width=120, wrap=True),
    Col("figures", ("Figures the report gives", "报告给出的数字"), "figures_en", "figures_zh", flex=4, wrap=True),
    Col("source", ("Source", "来源"), "source_en", "source_zh", width=200, wrap=True),
]


def dev_name(key: str) -> tuple[str, str]:
    d = rd.developers()[key]
    return en_name(d.name_en, d.name_en_source), d.name_zh


def place_label(key: str) -> tuple[str, str]:
    p = rd.place(key)
    suffix_en = f", {p.parent_en}" if p.parent_en else ""
    return f"{p.name_en}{suffix_en}", p.name_zh


def _places_of(dev: str) -> list[str]:
    return list(dict.fromkeys(d.place for d in rd.deployments() if d.developer == dev))


def developer_rows(keys: list[str]) -> list[dict[str, Any]]:
    rows = []
    for dev in rd.developers().values():
        if keys and dev.key not in keys:
            continue
        name = dev_name(dev.key)
        if dev.cities_count is None:
            count = NOT_IN_REPORT
        elif dev.cities_count_alt:
            count = (
                f"{dev.cities_count} (table 3.1) / {dev.cities_count_alt} (§3.2.2.1, personal communication)",
                f"{dev.cities_count}（表 3.1）/ {dev.cities_count_alt}（第 3.2.2.1 节，个人交流）",
            )
        else:
            count = (str(dev.cities_count), str(dev.cities_count))
        examples = [place_label(k) for k in dev.examples] if dev.in_table_31 else []
        named = [place_label(k) for k in _places_of(dev.key)]
        src = dev.source.label()
        rows.append(
            {
                "key": dev.key,
                "developer_en": f"{name[0]} ({name[1]})" if dev.key != "unnamed" else name[0],
                "developer_zh": name[1],
                "product_en": f"{en_name(dev.product_en, dev.product_en_source)} ({dev.product_zh})",
                "product_zh": dev.product_zh,
                "functions_en": f"{dev.functions_en}†" if dev.functions_en else "",
                "functions_zh": dev.functions_zh,
                "count_en": count[0] + (f" — {dev.count_note_en}" if dev.count_note_en else ""),
                "count_zh": count[1] + (f"——{dev.count_note_zh}" if dev.count_note_zh else ""),
                "examples_en": ", ".join(en for en, _ in examples) if dev.in_table_31 else "not in table 3.1",
                "examples_zh": "、".join(zh for _, zh in examples) if dev.in_table_31 else "不在表 3.1 中",
                "named_en": ", ".join(en for en, _ in named),
                "named_zh": "、".join(zh for _, zh in named),
                "source_en": src[0],
                "source_zh": src[1],
            }
        )
    return rows


def _figures_text(dep: rd.Deployment) -> tuple[str, str]:
    if not dep.figures:
        return "none in the report", "报告未给出"
    en = "; ".join(f"{f.label_en}: {f.value}" for f in dep.figures)
    zh = "；".join(f"{f.label_zh}：{f.value_zh or f.value}" for f in dep.figures)
    return en, zh


def deployment_rows(deps: tuple[rd.Deployment, ...]) -> list[dict[str, Any]]:
    rows = []
    for d in deps:
        place, dev = place_label(d.place), dev_name(d.developer)
        status = STATUS_LABELS[d.status]
        figures = _figures_text(d)
        sources = [s.label() for s in d.sources]
        rows.append(
            {
                "id": d.id,
                "place_en": f"{place[0]} ({place[1]})",
                "place_zh": place[1],
                "developer_en": dev[0],
                "developer_zh": dev[1],
                "status_en": status[0],
                "status_zh": status[1],
                "since_en": str(d.since) if d.since else NOT_IN_REPORT[0],
                "since_zh": str(d.since) if d.since else NOT_IN_REPORT[1],
                "figures_en": figures[0],
                "figures_zh": figures[1],
                "source_en": "; ".join(en for en, _ in sources),
                "source_zh": "；".join(zh for _, zh in sources),
            }
        )
    return rows


def deployment_points(deps: tuple[rd.Deployment, ...]) -> list[MapPoint]:
    by_place: dict[str, list[rd.Deployment]] = {}
    for d in deps:
        by_place.setdefault(d.place, []).append(d)
    points = []
    for key, items in by_place.items():
        pl = rd.place(key)
        first = items[0]
        devs_en = ", ".join(dev_name(d.developer)[0] for d in items)
        devs_zh = "、".join(dev_name(d.developer)[1] for d in items)
        popup = [
            html.Strong(t(f"{pl.name_en} ({pl.name_zh})", pl.name_zh)),
            html.Ul(
                [
                    html.Li(
                        [
                            t(
                                f"{dev_name(d.developer)[0]}: {STATUS_LABELS[d.status][0]}",
                                f"{dev_name(d.developer)[1]}：{STATUS_LABELS[d.status][1]}",
                            ),
                            " ",
                            *[source_chip(s, short=True) for s in d.sources[:2]],
                        ]
                    )
                    for d in items
                ]
            ),
            *[
                html.Div(t(f"{f.label_en}: {f.value}", f"{f.label_zh}：{f.value_zh or f.value}"))
                for d in items
                for f in d.figures[:4]
            ],
        ]
        points.append(
            MapPoint(
                key=key,
                lat=pl.lat or 0.0,
                lon=pl.lon or 0.0,
                label=(f"{pl.name_en} · {devs_en}", f"{pl.name_zh} · {devs_zh}"),
                popup=popup,
                color=DEV_COLORS.get(first.developer, "#868e96"),
                radius=7,
                dashed=all(d.status != "deployed" for d in items),
            )
        )
    return points


def _bounds(points: list[MapPoint]) -> list[list[float]] | None:
    if not points:
        return None
    lats, lons = [p.lat for p in points], [p.lon for p in points]
    pad = 1.5
    return [[min(lats) - pad, min(lons) - pad], [max(lats) + pad, max(lons) + pad]]


def answer(dev_keys: list[str], place_keys: list[str], deps: tuple[rd.Deployment, ...]) -> list[Any]:
    out: list[Any] = []
    for key in dev_keys:
        dev = rd.developers()[key]
        name = dev_name(key)
        places = [place_label(d.place) for d in deps if d.developer == key]
        deployed = [place_label(d.place) for d in deps if d.developer == key and d.status == "deployed"]
        planned = [p for p in places if p not in deployed]
        if dev.cities_count is None:
            count_en, count_zh = "The report gives no total", "报告未给出总数"
        elif dev.cities_count_alt:
            count_en = f"{dev.cities_count} cities (table 3.1) or {dev.cities_count_alt} (§3.2.2.1)"
            count_zh = f"{dev.cities_count} 个城市（表 3.1）或 {dev.cities_count_alt} 个（第 3.2.2.1 节）"
        else:
            count_en, count_zh = f"{dev.cities_count} cities", f"{dev.cities_count} 个城市"
        en = (
            f"{name[0]} ({name[1]}), {en_name(dev.product_en, dev.product_en_source)}: {count_en}; "
            f"the report names {len(deployed)} where it runs: " + ", ".join(e for e, _ in deployed)
        )
        zh = f"{name[1]}「{dev.product_zh}」：{count_zh}；报告点名的应用地 {len(deployed)} 个：" + "、".join(
            z for _, z in deployed
        )
        if planned:
            en += "; planned or in development: " + ", ".join(e for e, _ in planned)
            zh += "；计划中或开发中：" + "、".join(z for _, z in planned)
        srcs = [dev.source, *(s for d in deps if d.developer == key for s in d.sources)]
        tables = sorted({s.table for s in srcs if s.table})
        secs = sorted({s.section for s in srcs if s.section and not s.table} | {dev.source.section or ""} - {""})
        chips = [source_chip(rd.Source(tb, None), short=True) for tb in tables]
        chips += [source_chip(rd.Source(None, sec)) for sec in secs]
        out.append(
            html.P(
                [html.Strong(t(en + ".", zh + "。"), className="rp-answer"), " ", *chips],
                id=f"{P}-answer-{key}",
            )
        )
    if place_keys and not dev_keys:
        for key in place_keys:
            label = place_label(key)
            here = [d for d in deps if d.place == key]
            devs = [dev_name(d.developer) for d in here]
            out.append(
                html.P(
                    html.Strong(
                        t(
                            f"{label[0]} ({label[1]}): "
                            + (", ".join(e for e, _ in devs) or "no City Brain in the report")
                            + ".",
                            f"{label[1]}：" + ("、".join(z for _, z in devs) or "报告未提到城市大脑") + "。",
                        ),
                        className="rp-answer",
                    )
                )
            )
    if not out:
        n_places = len({d.place for d in deps})
        out.append(
            html.P(
                t(
                    f"{len(rd.developers()) - 1} developers (5 in table 3.1, plus Baidu in §3.3.2.3) and "
                    f"{n_places} places the report names as having or planning a City Brain.",
                    f"{len(rd.developers()) - 1} 个开发者（表 3.1 中 5 个，另有第 3.3.2.3 节的百度），"
                    f"报告提到拥有或计划建设城市大脑的地点共 {n_places} 个。",
                )
            )
        )
    return out


def figure_panels(deps: tuple[rd.Deployment, ...]) -> list[Any]:
    panels = []
    for d in deps:
        if not d.figures and not d.note_en:
            continue
        place, dev = place_label(d.place), dev_name(d.developer)
        panels.append(
            html.Div(
                [
                    html.H3(t(f"{place[0]} ({place[1]}) · {dev[0]}", f"{place[1]} · {dev[1]}")),
                    html.P(t(f"{d.note_en}†", d.note_zh), className="rp-footnote") if d.note_en else None,
                    html.Ul(
                        [
                            html.Li(
                                [
                                    html.Strong(t(f.value, f.value_zh or f.value)),
                                    " ",
                                    t(f"{f.label_en}†", f.label_zh),
                                    " ",
                                    source_chip(f.source),
                                ]
                            )
                            for f in d.figures
                        ]
                    )
                    if d.figures
                    else None,
                ],
                className="rp-city",
                id=f"{P}-figures-{d.id}",
            )
        )
    return panels


def layout(developer: str | None = None, place: str | None = None, **_query: Any) -> html.Div:
    settings = load_settings()
    req_dev, req_place = split_param(developer), split_param(place)
    devs = [d for d in req_dev if d in rd.developers()]
    places_used = {d.place for d in rd.deployments()}
    plcs = [p for p in req_place if p in places_used]
    unknown = [f"developer={d}" for d in req_dev if d not in devs] + [f"place={p}" for p in req_place if p not in plcs]
    place_options = sorted(places_used, key=lambda k: rd.place(k).name_en)
    deps = rd.filter_deployments(devs, plcs)
    points = deployment_points(deps)
    return report_page(
        P,
        "/pilots/city-brain",
        ("City Brain developers: who built what where", "城市大脑开发者：谁在哪里建了什么"),
        (
            "Table 3.1 lists five developers; chapter 3 adds Baidu and places whose developer it does not "
            "name. Figures are the report's; places without figures show “none in the report”.",
            "表 3.1 列出五个开发者；第 3 章另提到百度以及未说明开发者的地点。"
            "数字均来自报告；没有数字的地点标为“报告未给出”。",
        ),
        [
            html.Div(
                [
                    report_filter(
                        f"{P}-developer",
                        ("Developer", "开发者"),
                        [option(k, *dev_name(k)) for k in rd.developers()],
                        devs,
                    ),
                    report_filter(
                        f"{P}-place",
                        ("Place", "地点"),
                        [option(k, *place_label(k)) for k in place_options],
                        plcs,
                    ),
                ],
                className="rp-filters",
            ),
            ignored_values(unknown),
            html.Div(id=f"{P}-answer", className="rp-answers", **{"aria-live": "polite"}),
            html.Div(
                [
                    points_map(
                        f"{P}-map",
                        [(("City Brain places", "城市大脑所在地"), f"{P}-points", points)],
                        six_city_outlines(),
                        settings.tile_url,
                        settings.tile_attribution,
                        bounds=_bounds(points),
                        height="560px",
                    ),
                    html.Div(
                        [
                            html.H3(t("Legend", "图例")),
                            html.Ul(
                                [
                                    html.Li(
                                        [
                                            html.Span(className="legend-swatch", style={"background": DEV_COLORS[k]}),
                                            " ",
                                            t(*dev_name(k)),
                                        ]
                                    )
                                    for k in rd.developers()
                                ],
                                className="rp-legend",
                            ),
                            html.P(
                                t(
                                    "Dashed: planned or in development. Markers on approximate centres (WGS84) "
                                    "written by hand, not from the report; outlines: the six leading cities.",
                                    "虚线：计划中或开发中。标记位于手工填写的大致中心（WGS84），并非来自报告；轮廓为六个领先城市。",
                                ),
                                className="rp-footnote",
                            ),
                        ],
                        className="rp-city",
                    ),
                ],
                className="rp-map-row",
            ),
            report_grid(
                f"{P}-developers",
                DEV_COLUMNS,
                title=("Developers (table 3.1 and chapter 3)", "开发者（表 3.1 及第 3 章）"),
                filename="city-brain-developers-table-3.1",
            ),
            report_grid(
                f"{P}-deployments",
                DEP_COLUMNS,
                title=("Who built what where (chapter 3)", "谁在哪里建了什么（第 3 章）"),
                filename="city-brain-places",
            ),
            html.H2(tp(("Figures the report gives", "报告给出的数字")), className="rp-title"),
            html.Div(id=f"{P}-figures", className="rp-city-grid"),
            contradiction_notes(rd.contradictions_for("city-brain")),
        ],
    )


filters_in_url(P, "developer", "place")


@callback(
    Output(f"{P}-answer", "children"),
    Output({"type": "rg-grid", "key": f"{P}-developers"}, "rowData"),
    Output({"type": "rg-grid", "key": f"{P}-deployments"}, "rowData"),
    Output(f"{P}-points", "children"),
    Output(f"{P}-map", "viewport"),
    Output(f"{P}-figures", "children"),
    Input(f"{P}-developer", "value"),
    Input(f"{P}-place", "value"),
)
def show(developer: list[str] | None, place: list[str] | None):
    devs = [d for d in developer or [] if d in rd.developers()]
    plcs = list(place or [])
    deps = rd.filter_deployments(devs, plcs)
    # A place filter alone lists the developers at those places.
    at_places = sorted({d.developer for d in deps}, key=list(rd.developers()).index)
    dev_keys = devs if devs or not plcs else at_places
    points = deployment_points(deps)
    bounds = _bounds(points)
    viewport = {"bounds": bounds, "transition": "flyToBounds"} if bounds else dash.no_update
    return (
        answer(devs, plcs, deps),
        developer_rows(dev_keys),
        deployment_rows(deps),
        markers(points, f"{P}-map-{P}-points"),
        viewport,
        figure_panels(deps)
        or [html.P(t("No figures for this selection.", "所选范围内报告未给出数字。"), className="rp-missing")],
    )
