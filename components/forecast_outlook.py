"""The city's air-quality outlook for tomorrow, the day after and day 3 in HJ 633-2012 levels, with the range
of the 80 % interval (data in: `access.forecast_outlook`; component out). Shown beside the command centre's
FORECAST banner and on /model-quality."""

from __future__ import annotations

import time
from typing import Any

from dash import html

from components.i18n import t

DAY_NAMES = (("Tomorrow", "明天"), ("Day after", "后天"), ("Day 3", "第三天"))


def _date(day: int, utc_offset: int) -> str:
    return time.strftime("%m-%d", time.gmtime(day + utc_offset))


def _range(record: dict[str, Any]) -> html.Span:
    low, high = record["level_low"], record["level_high"]
    if low["level"] == high["level"]:
        return html.Span(f"AQI {record['low']}–{record['high']}", className="muted")
    return html.Span(
        [f"AQI {record['low']}–{record['high']} · ", t(low["name_en"], low["name_zh"]), " – ",
         t(high["name_en"], high["name_zh"])],
        className="muted",
    )  # fmt: skip


def _day(k: int, record: dict[str, Any], utc_offset: int) -> html.Div:
    head = [t(*DAY_NAMES[k]), f" {_date(record['day'], utc_offset)}"]
    if record["level"] is None:
        body: list[Any] = [t("no forecast", "无预测", className="muted")]
        level_class = "outlook-day"
    else:
        level = record["level"]
        body = [
            html.Strong(t(level["name_en"], level["name_zh"]), style={"color": level["color"]}),
            f" {record['aqi']} ",
            _range(record),
        ]
        if record["hours"] < 24:
            body.append(t(f" ({record['hours']} h forecast)", f"（预测 {record['hours']} 小时）", className="muted"))
        level_class = f"outlook-day aqi-level-{level['level']}"
    return html.Div([html.Div(head, className="outlook-date"), html.Div(body)], className=level_class)


def outlook_panel(outlook: dict[str, Any], utc_offset: int) -> html.Div:
    """One line per day (dates in the city's time, `utc_offset` seconds east of UTC); a day without a
    forecast says why (its model lost to the naive baseline)."""
    days = outlook["days"]
    lost = [k for k, m in outlook["models"].items() if m["reason"] == "baseline better"]
    note = []
    if lost:
        hours = " and ".join("+1–24 h" if k == "air_quality" else "+25–72 h" for k in lost)
        hours_zh = "、".join("1–24 小时" if k == "air_quality" else "25–72 小时" for k in lost)
        note = [t(f"{hours}: no forecast: baseline better", f"{hours_zh}：无预测：基准更优", className="forecast-note")]
    return html.Div(
        [
            html.Div(t("AQI outlook (HJ 633 levels, 80 % range)", "空气质量展望（HJ 633 等级，80% 区间）"),
                     className="outlook-title"),
            *(_day(k, d, utc_offset) for k, d in enumerate(days)),
            *note,
        ],
        className="forecast-outlook",
    )  # fmt: skip
