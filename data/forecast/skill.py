"""Scores of a forecast against what happened: MAE, skill against a baseline, AQI level hit rate,
interval coverage. Pure functions; NaN pairs are left out."""

from __future__ import annotations

import math

import numpy as np

from data.rules.aqi import level_for
from data.rules.clock import CST, DAY


def _pairs(forecast: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, a = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    ok = ~np.isnan(f) & ~np.isnan(a)
    return f[ok], a[ok]


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error over the pairs where both are known; NaN when none are."""
    f, a = _pairs(forecast, actual)
    return float(np.mean(np.abs(f - a))) if len(f) else math.nan


def skill(model_mae: float, baseline_mae: float) -> float:
    """1 - MAE/MAE(baseline): 0 is as good as the baseline, 1 perfect, negative worse."""
    if math.isnan(model_mae) or math.isnan(baseline_mae) or baseline_mae <= 0:
        return math.nan
    return 1.0 - model_mae / baseline_mae


def better_baseline(baseline_maes: dict[str, float]) -> tuple[str, float]:
    """The baseline with the lowest MAE (the one a model has to beat); baselines without a score are skipped."""
    scored = {name: value for name, value in baseline_maes.items() if not math.isnan(value)}
    if not scored:
        raise ValueError("no baseline could be scored")
    name = min(scored, key=lambda k: (scored[k], k))
    return name, scored[name]


def aqi_levels(aqi: np.ndarray) -> np.ndarray:
    """HJ 633-2012 level (1-6) of each AQI value (rounded up as published); 0 where missing."""
    out = np.zeros(len(aqi), dtype=int)
    for k, value in enumerate(np.asarray(aqi, dtype=float)):
        if not math.isnan(value):
            out[k] = level_for(max(0.0, math.ceil(value))).level
    return out


def level_hit_rate(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Share of forecasts that name the same HJ 633 level as the observed AQI."""
    f, a = _pairs(forecast, actual)
    return float(np.mean(aqi_levels(f) == aqi_levels(a))) if len(f) else math.nan


def daily_level_hit_rate(origin: np.ndarray, target: np.ndarray, forecast: np.ndarray, actual: np.ndarray) -> float:
    """The outlook's score: per forecast origin and local (CST) day of the targets `target` (epoch seconds),
    whether the mean forecast names the same HJ 633 level as the mean observed AQI; the share that do."""
    f, a = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    ok = ~np.isnan(f) & ~np.isnan(a)
    if not ok.any():
        return math.nan
    day = (np.asarray(target)[ok] + CST) // DAY
    _keys, group = np.unique(np.column_stack([np.asarray(origin)[ok], day]), axis=0, return_inverse=True)
    group = group.ravel()
    n = np.bincount(group)
    mean_f, mean_a = np.bincount(group, f[ok]) / n, np.bincount(group, a[ok]) / n
    return float(np.mean(aqi_levels(mean_f) == aqi_levels(mean_a)))


def coverage(low: np.ndarray, high: np.ndarray, actual: np.ndarray) -> float:
    """Share of observations inside [low, high]."""
    lo, hi, a = (np.asarray(x, dtype=float) for x in (low, high, actual))
    ok = ~np.isnan(a) & ~np.isnan(lo) & ~np.isnan(hi)
    return float(np.mean((a[ok] >= lo[ok]) & (a[ok] <= hi[ok]))) if ok.any() else math.nan
