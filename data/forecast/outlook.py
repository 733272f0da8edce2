"""The city's air-quality outlook for the next three days in HJ 633-2012 levels, from the served hourly
station forecasts (+1..+24 h and the +25..+72 h outlook model). Pure: a frame in, records out.

A day's value is the mean over its forecast hours of the city's mean station AQI; its range the same
means of the 80 % interval's bounds (a conservative band: the stations' errors move together), each
named by its HJ 633 level. A day with no forecast hour (the model lost to its baseline) says so.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from data.rules.aqi import level_for
from data.rules.clock import DAY, local_day_start

DAYS = 3


def _level(value: float) -> dict[str, Any]:
    level = level_for(max(0.0, math.ceil(value)))
    return {"level": level.level, "name_en": level.name_en, "name_zh": level.name_zh, "color": level.color}


def city_outlook(frame: pd.DataFrame, now: float, days: int = DAYS) -> list[dict[str, Any]]:
    """Per local day after today (CST), up to `days`: {"day" (its midnight), "hours" forecast, "aqi", "low",
    "high" and the HJ 633 "level" of each (None where the day has no forecast hour)}. `frame` holds
    sensor_id, target, value, low, high of the served AQI forecasts."""
    today = local_day_start(now)
    out = []
    for k in range(1, days + 1):
        start = today + k * DAY
        rows = frame[(frame["target"] >= start) & (frame["target"] < start + DAY)] if len(frame) else frame
        record: dict[str, Any] = {"day": start, "hours": 0, "aqi": None, "low": None, "high": None, "level": None}
        if len(rows):
            hourly = rows.groupby("target")[["value", "low", "high"]].mean()
            aqi, low, high = (float(hourly[c].mean()) for c in ("value", "low", "high"))
            record |= {
                "hours": len(hourly),
                "aqi": round(aqi),
                "low": round(low),
                "high": round(high),
                "level": _level(aqi),
                "level_low": _level(low),
                "level_high": _level(high),
            }
        out.append(record)
    return out
