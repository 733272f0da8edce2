"""Congestion index (travel-time ratio) and its bands.

The index is actual travel time over free-flow travel time, which for one segment equals
free-flow speed over actual speed. Bands follow the "拥堵延时指数" (congestion delay index) that
AutoNavi/Amap publishes with the Ministry of Transport's research institute in its quarterly
*China Major Cities Traffic Analysis Report* (中国主要城市交通分析报告): below 1.5 free-flowing
(畅通), 1.5 to 2.0 slow (缓行), 2.0 and above congested (拥堵).
"""

from __future__ import annotations

import math

from data.rules.bands import Band

CONGESTION_BANDS: tuple[Band, ...] = (
    Band("free", 1.0, 1.5, "畅通", "Free-flowing", "#2e9d4b"),
    Band("slow", 1.5, 2.0, "缓行", "Slow", "#f2b418"),
    Band("congested", 2.0, math.inf, "拥堵", "Congested", "#d7301f"),
)


def congestion_index(speed_kmh: float, free_flow_kmh: float) -> float:
    """Travel-time ratio of a segment; never below 1 (faster than free flow counts as free flow)."""
    if free_flow_kmh <= 0:
        raise ValueError("free-flow speed must be positive")
    if speed_kmh <= 0:
        raise ValueError("speed must be positive (a stopped segment has no finite travel time)")
    return max(1.0, free_flow_kmh / speed_kmh)


def network_index(travel_times_s: list[float], free_flow_times_s: list[float]) -> float:
    """Network index: total travel time over total free-flow time (length-weighted, as Amap reports)."""
    total_free = sum(free_flow_times_s)
    if total_free <= 0:
        raise ValueError("no free-flow travel time")
    return max(1.0, sum(travel_times_s) / total_free)


def band_for(index: float) -> Band:
    for band in CONGESTION_BANDS:
        if index < band.high:
            return band
    return CONGESTION_BANDS[-1]


# Road class -> (free-flow speed km/h, lanes): the defaults for a road that does not say (the simulated
# network and feeds' new segments without maximumAllowedSpeed alike).
ROAD_CLASS_SPEC = {
    "motorway": (80.0, 3),
    "primary": (60.0, 3),
    "secondary": (50.0, 2),
    "local": (35.0, 1),
}
