"""KPI cards: value with unit, change against the same time yesterday, data age and a sparkline.

The page sends the grid (kpi_grid) with what never changes in its cards (labels, units) as data;
assets/citybrain.js makes the nine cards from it once and each refresh writes their values (kpi_view,
small JSON) into them, text by text. Dash applying ~200 new components per refresh cost the browser
177 ms of long tasks each time (bench/page_cost.py), and the ~270 components of nine cards drawn by
Dash cost the renderer ~220 ms of every page open (bench/page_open.py --profile)."""

from __future__ import annotations

import json
from typing import Any

from dash import html
from markupsafe import Markup

from components.i18n import KPI_LABELS, UNITS, Pair
from components.markup import join, pair, pair_of, static, tag

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
KPI_KEYS = tuple(HIGHER_IS_WORSE)  # the cards' order
KPI_UNITS = {
    "congestion_index": "",
    "mean_speed": "km/h",
    "parking_occupancy": "%",
    "free_spaces": "spaces",
    "city_aqi": "AQI",
    "worst_station": "AQI",
    "open_incidents": "incidents",
    "incidents_today": "incidents",
    "median_dispatch": "s",
}
NO_DATA: Pair = ("no data", "无数据")


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def age_pair(seconds: int | None) -> Pair:
    if seconds is None:
        return NO_DATA
    if seconds < 90:
        return f"{seconds} s ago", f"{seconds} 秒前"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min ago", f"{minutes} 分钟前"
    return f"{minutes // 60} h ago", f"{minutes // 60} 小时前"


def kpi_view(
    kpi: dict[str, Any],
    at: int,
    higher_is_worse: bool,
    spark: dict[str, Any] | None = None,
    forecast: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What one card shows, as JSON: `kpi` is one entry of data.access.kpi_dicts; the arrow's colour
    says whether the change is bad; `spark` is components/trend.py `spark_paths`. On a forecast step of
    the time control, `forecast` replaces the value: {value, low, high, level, detail} (the 80 % interval)
    or {note: (en, zh)} saying why there is none; the change against yesterday is then not shown."""
    change = kpi.get("change")
    if change is None or change == 0:
        trend_class, arrow = "kpi-flat", "→"
    else:
        worse = (change > 0) == higher_is_worse
        trend_class, arrow = ("kpi-worse" if worse else "kpi-better"), ("↑" if change > 0 else "↓")
    age = None if kpi.get("newest") is None else max(0, at - int(kpi["newest"]))
    level = kpi.get("level")
    view = {
        "key": kpi["key"],
        "value": fmt(kpi["value"]),
        "main": f"kpi-main aqi-level-{level}" if level else "kpi-main",
        "detail": kpi.get("detail") or "",
        "spark": spark,
        "change": f"{arrow} {fmt(abs(change)) if change is not None else '—'}",
        "trend": trend_class,
        "age": list(age_pair(age)),
        "stale": bool(kpi.get("stale")),
        "fc": None,
    }
    return view if forecast is None else view | _forecast_view(forecast)


def _forecast_view(forecast: dict[str, Any]) -> dict[str, Any]:
    if "note" in forecast:
        return {"value": "—", "main": "kpi-main", "detail": "", "change": None, "fc": list(forecast["note"])}
    level, span = forecast.get("level"), f"{fmt(forecast['low'])} – {fmt(forecast['high'])}"
    return {
        "value": fmt(forecast["value"]),
        "main": f"kpi-main aqi-level-{level}" if level else "kpi-main",
        "detail": forecast.get("detail") or "",
        "change": None,
        "fc": [f"FORECAST · 80 % interval {span}", f"预测 · 80% 区间 {span}"],
    }


CARD_TITLE = "7-day chart · 7 天趋势图"


def card_spec(spark: dict[str, str]) -> dict[str, Any]:
    """What the browser makes the cards from: their order, labels and units, and the fixed texts.
    `spark`: the sparkline's viewbox and title (components/trend.py SPARK)."""
    return {
        "cards": [{"key": k, "label": list(KPI_LABELS[k]), "unit": list(UNITS[KPI_UNITS[k]])} for k in KPI_KEYS],
        "vs": [" vs yesterday", " 较昨日同期"],
        "stale": [" · STALE", " · 数据过期"],
        "no_data": list(NO_DATA),
        "title": CARD_TITLE,
        "spark": spark,
    }


def kpi_grid(grid_id: str, class_name: str, spark: dict[str, str], pick_id: str | None = None) -> Markup:
    """The grid the cards are made in (card_spec, assets/citybrain.js `applyPanels`), as written HTML for a
    panel written whole; "Loading…" until the first values arrive. With `pick_id`, a card is a button
    (click, Enter or Space): the browser writes {key, n} into that dcc.Store, and the page's callback
    opens the card's chart."""
    return tag(
        "div", _grid_content(), id=grid_id, class_=class_name + " is-loading", data_cards=_card_json(spark),
        data_pick=pick_id,
    )  # fmt: skip


def _card_json(spark: dict[str, str]) -> str:
    return json.dumps(card_spec(spark), ensure_ascii=False, separators=(",", ":"))


def _grid_content() -> Markup:
    return join(
        [
            tag("div", pair("Loading…", "加载中…"), class_="muted kpi-loading"),
            tag("div", error_markup(("key indicators", "关键指标")), class_="panel-error-slot", hidden=True),
        ]
    )


def error_markup(what: Pair) -> Markup:
    """What a panel shows when its data failed: the rest of the page keeps working."""
    note = pair(
        "The error was logged; this panel retries on the next refresh.", "错误已记录，本面板将在下次刷新时重试。"
    )
    return tag(
        "div",
        tag("strong", pair("Temporarily unavailable: ", "暂时无法显示：")),
        pair_of(what),
        tag("div", note, class_="muted"),
        class_="panel-error",
        role="alert",
    )


def error_panel(what: Pair) -> html.Div:
    """error_markup as a component, for a callback's answer."""
    return static(html.Div, error_markup(what))
