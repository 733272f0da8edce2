"""Parking occupancy, free spaces, turnover and the next-hour forecast.

Turnover is vehicles parked per space per day, the usual traffic-engineering definition. The
report's Chinese text (ch. 3.2.1.2, note 1) words it the other way round (spaces divided by
vehicles); we follow the common definition, which is what its "service capacity" reading means.
"""

from __future__ import annotations

import math

import numpy as np

from data.rules.bands import Band

# Occupancy in percent. Guidance-sign thresholds commonly used by parking guidance systems: a car park is
# shown as "nearly full" from 90 % (drivers are redirected) and "full" at 100 %.
OCCUPANCY_BANDS: tuple[Band, ...] = (
    Band("available", 0, 70, "充足", "Available", "#2e9d4b"),
    Band("busy", 70, 90, "紧张", "Busy", "#f2b418"),
    Band("nearly_full", 90, 100, "将满", "Nearly full", "#e8590c"),
    Band("full", 100, math.inf, "已满", "Full", "#a61e4d"),
)


def occupancy_band(pct: float) -> Band:
    """The guidance band of an occupancy given in percent."""
    return next(b for b in OCCUPANCY_BANDS if pct < b.high)


def occupancy(occupied: int, capacity: int) -> float:
    """Share of spaces taken, 0..1."""
    if capacity <= 0:
        raise ValueError("capacity must be positive")
    if occupied < 0 or occupied > capacity:
        raise ValueError(f"occupied {occupied} outside 0..{capacity}")
    return occupied / capacity


def free_spaces(occupied: int, capacity: int) -> int:
    occupancy(occupied, capacity)  # validates
    return capacity - occupied


def turnover(vehicles: int, capacity: int, hours: float = 24.0) -> float:
    """Vehicles per space per day, from the vehicles that parked over `hours`."""
    if capacity <= 0 or hours <= 0:
        raise ValueError("capacity and hours must be positive")
    if vehicles < 0:
        raise ValueError("vehicle count cannot be negative")
    return vehicles / capacity * (24.0 / hours)


def forecast_next_hour(occupied_now: int, yesterday_now: int, yesterday_next_hour: int, capacity: int) -> int:
    """Seasonal-difference forecast: today's level plus yesterday's change over the same hour.

    Simple, explainable and hard to beat for one-hour horizons on daily-periodic demand; clipped to
    the lot's capacity.
    """
    forecast = occupied_now + (yesterday_next_hour - yesterday_now)
    return int(min(max(forecast, 0), capacity))


# --- element-wise forms: the same rules over every car park of a city at once (20,000 at SIM_SCALE=shanghai,
# where a Python loop calling the functions above cost the map's first refresh after each tick). NaN in an
# observed input (a car park without a reading) gives NaN; invalid readings raise as the scalar rules do.


def _check(occupied: np.ndarray, capacity: np.ndarray) -> None:
    present = ~np.isnan(occupied)
    if np.any(present & ~(capacity > 0)):
        raise ValueError("capacity must be positive")
    if np.any(present & ((occupied < 0) | (occupied > capacity))):
        raise ValueError("occupied outside 0..capacity")


def occupancy_array(occupied: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """`occupancy` element-wise."""
    _check(occupied, capacity)
    with np.errstate(invalid="ignore", divide="ignore"):  # (0 / 0 only where there is no reading)
        return occupied / capacity


def free_spaces_array(occupied: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """`free_spaces` element-wise."""
    _check(occupied, capacity)
    return capacity - occupied


def turnover_array(vehicles: np.ndarray, capacity: np.ndarray, hours: float = 24.0) -> np.ndarray:
    """`turnover` element-wise."""
    if np.any(~np.isnan(vehicles) & ~(capacity > 0)) or hours <= 0:
        raise ValueError("capacity and hours must be positive")
    if np.any(vehicles < 0):
        raise ValueError("vehicle count cannot be negative")
    with np.errstate(invalid="ignore", divide="ignore"):
        return vehicles / capacity * (24.0 / hours)


def forecast_next_hour_array(
    occupied_now: np.ndarray, yesterday_now: np.ndarray, yesterday_next_hour: np.ndarray, capacity: np.ndarray
) -> np.ndarray:
    """`forecast_next_hour` element-wise (NaN where any reading is missing)."""
    return np.clip(occupied_now + (yesterday_next_hour - yesterday_now), 0, capacity)


LOT_KINDS = ("commercial", "office", "residential", "on_street")  # the kinds a car park may be
