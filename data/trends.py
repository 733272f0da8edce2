"""KPI trends: each command-centre KPI as a series on the 15-minute grid, and its breakdown by district
(by station for air quality) at the grid's last point. Pure: frames in, lists out; data/access.py
reads the frames (store.trend_rows, store.incidents_between) and caches the result.

The definitions are the KPI cards' (data/access.py `kpis`): network index = total travel time over
total free-flow time; mean speed weighted by length; occupancy and free spaces over the lots with
data; city AQI from the stations' mean concentrations (HJ 633-2012), worst station the highest AQI;
open incidents not yet resolved, incidents reported since local midnight, median time to dispatch
of those dispatched since local midnight.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from data.rules import aqi as aqi_rules
from data.rules.clock import BUCKET_SECONDS as B
from data.rules.clock import CST, DAY, HOUR

KEYS = (
    "congestion_index",
    "mean_speed",
    "parking_occupancy",
    "free_spaces",
    "city_aqi",
    "worst_station",
    "open_incidents",
    "incidents_today",
    "median_dispatch",
)
DIGITS = {"congestion_index": 2, "mean_speed": 1, "parking_occupancy": 1}  # others: whole numbers
Series = list[float | int | None]
Breakdown = dict[str, float | int | None]


def grid(end_bucket: int, days: int = 7) -> np.ndarray:
    """The 15-minute buckets of the `days` ending with `end_bucket` (inclusive)."""
    return np.arange(end_bucket - days * DAY + B, end_bucket + B, B, dtype=np.int64)


def _clean(values: np.ndarray | pd.Series, key: str) -> Series:
    digits = DIGITS.get(key, 0)
    out: Series = []
    for v in np.asarray(values, dtype=float):
        out.append(None if math.isnan(v) else (round(float(v), digits) if digits else round(float(v))))
    return out


def _last_rows(rows: pd.DataFrame, end_bucket: int) -> pd.DataFrame:
    """The rows of the newest bucket at or before `end_bucket` (what the cards show)."""
    present = rows.loc[rows["bucket"] <= end_bucket, "bucket"]
    return rows[rows["bucket"] == present.max()] if len(present) else rows.iloc[0:0]


def traffic(rows: pd.DataFrame, buckets: np.ndarray) -> tuple[dict[str, Series], dict[str, Breakdown]]:
    sums = rows.groupby("bucket")[["tt", "ff", "speed_len", "length"]].sum().reindex(buckets)
    last = _last_rows(rows, int(buckets[-1])).groupby("district")[["tt", "ff", "speed_len", "length"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        series = {
            "congestion_index": _clean(np.maximum(1.0, sums["tt"] / sums["ff"]), "congestion_index"),
            "mean_speed": _clean(sums["speed_len"] / sums["length"], "mean_speed"),
        }
        by_district = {
            "congestion_index": dict(
                zip(last.index, _clean(np.maximum(1.0, last["tt"] / last["ff"]), "congestion_index"), strict=True)
            ),
            "mean_speed": dict(zip(last.index, _clean(last["speed_len"] / last["length"], "mean_speed"), strict=True)),
        }
    return series, by_district


def parking(rows: pd.DataFrame, buckets: np.ndarray) -> tuple[dict[str, Series], dict[str, Breakdown]]:
    sums = rows.groupby("bucket")[["occupied", "capacity"]].sum().reindex(buckets)
    last = _last_rows(rows, int(buckets[-1])).groupby("district")[["occupied", "capacity"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        series = {
            "parking_occupancy": _clean(sums["occupied"] / sums["capacity"] * 100, "parking_occupancy"),
            "free_spaces": _clean(sums["capacity"] - sums["occupied"], "free_spaces"),
        }
        by_district = {
            "parking_occupancy": dict(
                zip(last.index, _clean(last["occupied"] / last["capacity"] * 100, "parking_occupancy"), strict=True)
            ),
            "free_spaces": dict(
                zip(last.index, _clean(last["capacity"] - last["occupied"], "free_spaces"), strict=True)
            ),
        }
    return series, by_district


def _aqi(concentrations: Mapping[str, Any]) -> float:
    conc = {p: (None if pd.isna(concentrations[p]) else float(concentrations[p])) for p in aqi_rules.POLLUTANTS}
    value = aqi_rules.hourly_aqi(conc).aqi
    return math.nan if value is None else float(value)


def _row_aqi(rows: pd.DataFrame) -> np.ndarray:
    """`_aqi` of each row (NaN where no pollutant was measured): the highest IAQI, worked out once per
    distinct concentration rather than once per row and pollutant."""
    out = np.full(len(rows), np.nan)
    for p in aqi_rules.POLLUTANTS:
        values = np.asarray(rows[p], dtype=float)
        present = ~np.isnan(values)
        distinct, where = np.unique(values[present], return_inverse=True)
        sub = np.array([aqi_rules.iaqi(p, v, "1h") for v in distinct.tolist()], dtype=float)
        out[present] = np.fmax(out[present], sub[where])
    return out


def air(
    rows: pd.DataFrame, buckets: np.ndarray, station_names: Mapping[int, str]
) -> tuple[dict[str, Series], dict[str, Breakdown]]:
    """Hourly values, each repeated over its hour's buckets; the breakdown is per station."""
    pollutants = list(aqi_rules.POLLUTANTS)
    hours = buckets // HOUR * HOUR
    city, worst = {}, {}
    station_aqi = pd.Series(_row_aqi(rows), index=rows.index, dtype=float)
    for hour, group in rows.groupby("bucket"):
        city[hour] = _aqi(group[pollutants].mean(skipna=True))
        worst[hour] = float(station_aqi[group.index].max())
    series = {
        "city_aqi": _clean(pd.Series(city, dtype=float).reindex(hours).to_numpy(), "city_aqi"),
        "worst_station": _clean(pd.Series(worst, dtype=float).reindex(hours).to_numpy(), "worst_station"),
    }
    last = _last_rows(rows, int(hours[-1]))
    by_station = {
        str(station_names.get(int(sid), sid)): (None if math.isnan(v) else int(v))
        for sid, v in zip(last["station_id"], station_aqi[last.index], strict=True)
    }
    return series, {"city_aqi": by_station, "worst_station": by_station}


def _times(df: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def _local_day_starts(times: np.ndarray) -> np.ndarray:
    """`local_day_start` of each time (NaN stays NaN), as floats."""
    return (times + CST) // DAY * DAY - CST


def incidents(df: pd.DataFrame, buckets: np.ndarray) -> tuple[dict[str, Series], dict[str, Breakdown]]:
    """Each point is the state at its bucket's start (as the cards show it at that moment)."""
    points = buckets.astype(float)
    reported = _times(df, "reported_at")
    dispatched = _times(df, "dispatched_at")
    done = np.fmin(_times(df, "resolved_at"), _times(df, "closed_at"))  # NaN only when neither happened
    done = np.where(np.isnan(done), np.inf, done)
    by_report, by_done = np.sort(reported), np.sort(done)
    open_now = np.searchsorted(by_report, points, "right") - np.searchsorted(by_done, points, "right")
    day_starts = _local_day_starts(points)
    today = np.searchsorted(by_report, points, "right") - np.searchsorted(by_report, day_starts, "left")
    median = np.full(len(points), np.nan)
    report_day = _local_day_starts(reported)
    for day in np.unique(day_starts):
        mine = (report_day == day) & ~np.isnan(dispatched)
        order = np.argsort(dispatched[mine])
        when, delay = dispatched[mine][order], (dispatched[mine] - reported[mine])[order]
        for k in np.flatnonzero(day_starts == day):
            n = int(np.searchsorted(when, points[k], "right"))
            median[k] = np.median(delay[:n]) if n else np.nan
    series = {
        "open_incidents": _clean(open_now, "open_incidents"),
        "incidents_today": _clean(today, "incidents_today"),
        "median_dispatch": _clean(median, "median_dispatch"),
    }
    end = points[-1]
    district = df["district"].fillna("").astype(str).to_numpy()
    is_open = (reported <= end) & (done > end)
    is_today = (reported >= day_starts[-1]) & (reported <= end)
    dispatched_today = is_today & (dispatched <= end)
    delays = pd.Series(dispatched - reported)[dispatched_today].groupby(district[dispatched_today]).median()
    by_district = {
        "open_incidents": _counts(district[is_open]),
        "incidents_today": _counts(district[is_today]),
        "median_dispatch": dict(zip(delays.index, _clean(delays.to_numpy(), "median_dispatch"), strict=True)),
    }
    return series, by_district


def _counts(values: np.ndarray) -> Breakdown:
    names, counts = np.unique(values, return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def sparkline(series: Series, last_value: float | int | None, points: int = 96) -> tuple[Series, Series]:
    """The last 24 h (its last point the card's current value) and the 24 h before, aligned."""
    today = list(series[-points:])
    if today and last_value is not None:
        today[-1] = last_value
    yesterday = list(series[-2 * points : -points])
    return today, yesterday
