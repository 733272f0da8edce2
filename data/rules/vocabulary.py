"""The names of incident types and workflow states in both languages: domain vocabulary shared by the
UI, the public projections and the open data API (one source for every label a reader sees)."""

from __future__ import annotations

Pair = tuple[str, str]  # (English, Chinese)

INCIDENT_KINDS: dict[str, Pair] = {
    "traffic_accident": ("Traffic accident", "交通事故"),
    "illegal_parking": ("Illegal parking", "违法停车"),
    "road_obstruction": ("Road obstruction / occupation", "道路遗撒/占道"),
    "vehicle_breakdown": ("Vehicle breakdown", "车辆故障"),
    "abnormal_congestion": ("Abnormal congestion", "异常拥堵"),
    "pollution_exceedance": ("Pollution exceedance", "污染超标"),
    "manhole_cover": ("Manhole cover alarm", "井盖异常"),
    "gas_sensor": ("Gas sensor alarm", "燃气报警"),
    "parking_full": ("Car park full", "停车场满位"),
    "sensor_offline": ("Sensor silent", "传感器离线"),
}

STATUSES: dict[str, Pair] = {
    "new": ("New", "新事件"),
    "acknowledged": ("Acknowledged", "已确认"),
    "dispatched": ("Dispatched", "已派遣"),
    "on_scene": ("On scene", "已到场"),
    "resolved": ("Resolved", "已处置"),
    "closed": ("Closed", "已关闭"),
}
