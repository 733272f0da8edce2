"""City-level forecast figures from per-sensor forecasts, each with an 80 % interval.

Each sensor's forecast is a point value with its own 80 % interval (low, high). A city figure that is a
sum or a weighted mean of sensors is aggregated the same way the live KPI aggregates observations, and
its interval is combined assuming the sensors' errors are independent and roughly normal: each side's
half-width adds in quadrature (the square root of the sum of squared, weighted half-widths), which keeps
the 80 % level because the normal quantile scales both sides alike. The two sides are combined apart,
so a skewed interval stays skewed. Sensors without a forecast (None) are left out, as the live KPIs
leave out sensors without data. Errors of neighbouring sensors are in truth positively correlated, so
the combined interval is, if anything, too narrow: it is labelled as the sensors' combined interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

Forecast = tuple[float, float, float]  # point, low, high (80 %)
Items = Sequence[tuple[float | None, float | None, float | None]]


def _present(items: Items, weights: Sequence[float]) -> list[tuple[float, float, float, float]]:
    out = []
    for (v, lo, hi), w in zip(items, weights, strict=True):
        if v is None or w is None or not math.isfinite(w) or w <= 0:
            continue
        lo = v if lo is None else min(lo, v)
        hi = v if hi is None else max(hi, v)
        out.append((float(v), float(lo), float(hi), float(w)))
    return out


def combined_sum(items: Items) -> Forecast | None:
    """Sum of the points (e.g. free spaces over the car parks); None without any forecast."""
    found = _present(items, [1.0] * len(items))
    if not found:
        return None
    total = sum(v for v, *_ in found)
    down = math.sqrt(sum((v - lo) ** 2 for v, lo, _, _ in found))
    up = math.sqrt(sum((hi - v) ** 2 for v, _, hi, _ in found))
    return total, total - down, total + up


def combined_mean(items: Items, weights: Sequence[float] | None = None) -> Forecast | None:
    """Weighted mean of the points (e.g. the network congestion index: segments weighted by their
    free-flow travel time, as data/rules/congestion.py `network_index`); equal weights by default."""
    found = _present(items, [1.0] * len(items) if weights is None else weights)
    if not found:
        return None
    total = sum(w for *_, w in found)
    mean = sum(v * w for v, _, _, w in found) / total
    down = math.sqrt(sum((w * (v - lo)) ** 2 for v, lo, _, w in found)) / total
    up = math.sqrt(sum((w * (hi - v)) ** 2 for v, _, hi, w in found)) / total
    return mean, mean - down, mean + up


def worst(items: Items) -> tuple[int, Forecast] | None:
    """The sensor with the highest point (e.g. the worst station's AQI) and its own interval."""
    found = [(v, k) for k, (v, _, _) in enumerate(items) if v is not None]
    if not found:
        return None
    _, k = max(found)
    v, lo, hi = items[k]
    return k, (float(v), float(v if lo is None else lo), float(v if hi is None else hi))
