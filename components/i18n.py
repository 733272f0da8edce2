"""Bilingual text. Both languages are rendered; CSS shows the one on <html data-lang>, so switching
language is instant, needs no server round trip, and every callback stays language-free."""

from __future__ import annotations

from dash import html

Pair = tuple[str, str]  # (English, Chinese)


def t(en: str, zh: str, **kwargs) -> html.Span:
    return html.Span([html.Span(en, className="lang-en"), html.Span(zh, className="lang-zh")], **kwargs)


def tp(pair: Pair, **kwargs) -> html.Span:
    return t(pair[0], pair[1], **kwargs)


LAYERS: dict[str, Pair] = {
    "traffic": ("Traffic", "交通"),
    "parking": ("Parking", "停车"),
    "air_quality": ("Air quality", "空气质量"),
    "incidents": ("Incidents", "事件"),
    "districts": ("Districts", "行政区"),
}


SEVERITIES: list[Pair] = [("Low", "低"), ("Medium", "中"), ("High", "高"), ("Critical", "紧急")]
LOT_KINDS: dict[str, Pair] = {
    "commercial": ("Commercial", "商业"),
    "office": ("Office", "办公"),
    "residential": ("Residential", "住宅"),
    "on_street": ("On-street", "路内"),
}

KPI_LABELS: dict[str, Pair] = {
    "congestion_index": ("Congestion index", "拥堵延时指数"),
    "mean_speed": ("Mean speed", "平均车速"),
    "parking_occupancy": ("Parking occupancy", "停车占用率"),
    "free_spaces": ("Free spaces", "空余车位"),
    "city_aqi": ("City AQI", "全市 AQI"),
    "worst_station": ("Worst station", "最差站点"),
    "open_incidents": ("Open incidents", "未结事件"),
    "incidents_today": ("Incidents today", "今日事件"),
    "median_dispatch": ("Median time to dispatch", "派遣时间中位数"),
}
UNITS: dict[str, Pair] = {
    "": ("", ""),
    "km/h": ("km/h", "公里/时"),
    "%": ("%", "%"),
    "spaces": ("spaces", "个"),
    "AQI": ("", ""),
    "incidents": ("", "起"),
    "s": ("s", "秒"),
}

POPUP_LABELS: dict[str, Pair] = {
    "index": ("Congestion index", "拥堵延时指数"),
    "speed": ("Speed", "车速"),
    "free_flow": ("Free-flow speed", "自由流车速"),
    "district": ("District", "行政区"),
    "stale": ("No recent data (stale)", "数据过期"),
    "synthetic": ("Synthetic road, simulated traffic", "合成道路，模拟交通数据"),
    "capacity": ("Capacity", "泊位数"),
    "free": ("Free spaces", "空余车位"),
    "occupancy": ("Occupancy", "占用率"),
    "turnover": ("Turnover", "周转率"),
    "turnover_unit": ("veh/space/day", "车次/位/日"),
    "forecast": ("Free in 1 h (forecast)", "1 小时后空位（预测）"),
    "tariff": ("Tariff", "收费"),
    "tariff_unit": ("CNY/h", "元/时"),
    "kind": ("Type", "类型"),
    "simulated": ("Simulated data", "模拟数据"),
    "primary": ("Primary pollutant", "首要污染物"),
    "simulated_station": ("Simulated station, simulated readings", "模拟站点，模拟数据"),
    "real_station": ("Real national station (2017 list), simulated readings", "真实国控站点（2017 名录），模拟数据"),
    "severity": ("Severity", "严重程度"),
    "status": ("Status", "状态"),
    "age": ("Reported", "已发生"),
    "sla": ("SLA deadline in", "处置时限剩余"),
    "overdue": ("overdue by", "已超时"),
}
