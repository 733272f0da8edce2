"""The alerts list beside the KPIs."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from components.i18n import LAYERS
from components.markup import join, pair, tag

TEMPLATES: dict[str, tuple[str, str]] = {
    "sla_ack_breach": ("{n} incidents not acknowledged within their SLA", "{n} 起事件超时未确认"),
    "sla_dispatch_breach": ("{n} incidents not dispatched within their SLA", "{n} 起事件超时未派遣"),
    "aqi_heavy": (
        "{n} stations heavily polluted (AQI > 200, max {d})",
        "{n} 个站点重度及以上污染（AQI > 200，最高 {d}）",
    ),
    "aqi_moderate": ("{n} stations moderately polluted (max AQI {d})", "{n} 个站点中度污染（最高 AQI {d}）"),
    "congested_segments": ("{n} road segments congested (index ≥ 2.0)", "{n} 个路段拥堵（指数 ≥ 2.0）"),
    "lots_full": ("{n} car parks full", "{n} 个停车场已满"),
    "stale_sensors": ("{n} {layer_en} sensors without recent data", "{n} 个{layer_zh}传感器数据过期"),
    # Forecast alerts (issue 19): a separate kind, labelled as such; they never open an incident.
    "forecast_lots_full": ("FORECAST: {n} car parks full within the hour (first in {d} min)",
                           "预测：1 小时内 {n} 个停车场满位（最早 {d} 分钟后）"),
    "forecast_congested": ("FORECAST: {n} road segments congested within the hour (first in {d} min)",
                           "预测：1 小时内 {n} 个路段拥堵（最早 {d} 分钟后）"),
    "forecast_aqi_heavy": ("FORECAST: {n} stations above AQI 200 within 24 h (first {d})",
                           "预测：24 小时内 {n} 个站点 AQI 超过 200（最早 {d}）"),
}  # fmt: skip
# English for a count of one ("1 incidents not dispatched" read wrong on the wall); Chinese has no plural.
SINGULAR_EN: dict[str, str] = {
    "sla_ack_breach": "1 incident not acknowledged within its SLA",
    "sla_dispatch_breach": "1 incident not dispatched within its SLA",
    "aqi_heavy": "1 station heavily polluted (AQI > 200: {d})",
    "aqi_moderate": "1 station moderately polluted (AQI {d})",
    "congested_segments": "1 road segment congested (index ≥ 2.0)",
    "lots_full": "1 car park full",
    "stale_sensors": "1 {layer_en} sensor without recent data",
    "forecast_lots_full": "FORECAST: 1 car park full within the hour (in {d} min)",
    "forecast_congested": "FORECAST: 1 road segment congested within the hour (in {d} min)",
    "forecast_aqi_heavy": "FORECAST: 1 station above AQI 200 within 24 h ({d})",
}


def alert_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    """[class, English, Chinese] per alert (data.access.Alert as a dict): the alerts panel's refresh sends
    these and assets/citybrain.js `applyPanels` draws them as the list's items (alert_panel)."""
    rows = []
    for a in items:
        en, zh = TEMPLATES[a["key"]]
        en = SINGULAR_EN.get(a["key"], en) if a["count"] == 1 else en
        layer = LAYERS.get(a["detail"], ("", ""))
        fields = {"n": a["count"], "d": a["detail"], "layer_en": layer[0].lower(), "layer_zh": layer[1]}
        kind = " alert-forecast" if a["key"].startswith("forecast_") else ""
        rows.append([f"alert alert-{a['level']}{kind}", en.format(**fields), zh.format(**fields)])
    return rows


def alert_panel(panel_id: str, error: Markup) -> Markup:
    """The list the refresh fills, the "no alerts" line and the panel's error state (shown by applyPanels):
    written HTML (components/markup.py) for a panel written whole, filled in by the browser."""
    return tag("div", _panel_content(error), id=panel_id)


def _panel_content(error: Markup) -> Markup:
    return join(
        [
            tag("ul", class_="alert-list"),
            tag("div", pair("No active alerts", "当前无告警"), class_="alert-empty", hidden=True),
            tag("div", error, class_="panel-error-slot", hidden=True),
        ]
    )
