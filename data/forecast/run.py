"""Fit a city's layer on its stored history, backtest it, and store the fit and its forecasts.

Called by the background forecast job (data/jobs/forecasting.py) on a schedule, never per request.
A layer whose model does not beat the better naive baseline gets its fit recorded and no forecast.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from data import store
from data.forecast import backtest as bt
from data.forecast import features as ft
from data.forecast import model as fm
from data.forecast import series
from data.rules import aqi as aqi_rules
from data.rules.clock import DAY, HOUR
from data.store import forecasts as fstore

HISTORY_DAYS = 8  # at most this much stored history is learnt from
TRACKED = 20  # sensors per layer whose next-hour forecasts are kept to draw against what happened


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def forecast_rows(panel: series.Panel, fitted: fm.Fitted) -> list[dict[str, Any]]:
    """The forecast of every sensor at every horizon from the newest stored row, in served units."""
    spec = series.LAYER_SPECS[panel.layer]
    origin = panel.values.shape[0] - 1
    rows = ft.grid(np.array([origin]), len(panel.sensor_ids), spec.horizons)
    point = fitted.predict(panel, rows)
    low, high = fitted.interval(point, rows.horizon, fm.spread(panel, rows))
    value = panel.served(point, rows.sensor)
    bounds = np.sort(np.column_stack([panel.served(low, rows.sensor), panel.served(high, rows.sensor)]), axis=1)
    per_day = ft.rows_per_day(panel.step)
    out = []
    for k in np.flatnonzero(~np.isnan(value) & ~np.isnan(bounds).any(axis=1)):
        sensor, target_row = int(rows.sensor[k]), int(rows.origin[k] + rows.horizon[k])
        primary = None
        if panel.primary is not None:  # the primary pollutant of the same hour on the newest observed day
            lag = int(ft.day_lag(rows.horizon[k], per_day))
            code = int(panel.primary[target_row - lag, sensor]) if target_row >= lag else -1
            primary = aqi_rules.POLLUTANTS[code] if code >= 0 else None
        digits = 0 if panel.layer == "parking" else (2 if panel.layer == "traffic" else 0)
        out.append(
            {
                "sensor_id": int(panel.sensor_ids[sensor]),
                "target": panel.start + target_row * panel.step,
                "origin": panel.start + origin * panel.step,
                "value": round(float(value[k]), digits),
                "low": round(float(bounds[k, 0]), digits),
                "high": round(float(bounds[k, 1]), digits),
                "primary_pollutant": primary,
            }
        )
    return out


def fit_layer(engine: Engine, city: str, layer: str, now: float | None = None) -> dict[str, Any]:
    """Backtest and fit one city's layer on the stored history; store the fit (and its forecasts when
    it beats the better baseline). Returns the stored fit record."""
    started = time.perf_counter()
    spec = series.LAYER_SPECS[layer]
    oldest, newest = store.observation_bucket_range(engine, series.LAYER_SPECS[layer].observed, city)
    if oldest is None or newest is None:
        raise ValueError(f"no {layer} observations for {city}")
    panel = series.load(engine, layer, city, max(oldest, newest - HISTORY_DAYS * DAY), newest)
    result = bt.backtest(panel)
    score = result.score
    values: list[dict[str, Any]] = []
    track: list[dict[str, Any]] = []
    train_rows = 0
    if score.served:
        last = panel.values.shape[0] - 1
        fitted = fm.fit(panel, bt.training_rows(panel, spec.horizons, last, spec.train_rows, seed=7))
        fitted.residuals = result.residuals
        train_rows = fitted.n_train
        values = forecast_rows(panel, fitted)
        hour_ahead = panel.start + (last + HOUR // panel.step) * panel.step
        followed = set(int(s) for s in panel.sensor_ids[:TRACKED])
        track = [
            {k: v[k] for k in ("sensor_id", "target", "origin", "value", "low", "high")}
            for v in values
            if v["target"] == hour_ahead and v["sensor_id"] in followed
        ]
    fit = {
        "city": city,
        "layer": layer,
        "model": score.model,
        "fitted_at": int(time.time() if now is None else now),
        "fit_seconds": round(time.perf_counter() - started, 2),
        "history_from": int(panel.start),
        "history_to": int(newest),
        "train_rows": train_rows,
        "served": score.served,
        "mae": _num(score.mae),
        "better": score.better,
        "skill": _num(score.skill),
        "hit_rate": _num(score.hit_rate),
        "coverage": _num(score.coverage),
        "n": score.n,
        "baselines": {k: _num(v) for k, v in score.baselines.items()},
    }
    fit["id"] = fstore.write_fit(engine, fit, values, track)
    return fit
