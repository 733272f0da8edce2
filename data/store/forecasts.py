"""Storage for forecasts: each fit with its backtest, the latest forecast of every sensor, and a track
of the next-hour forecasts of a few sensors to draw against what happened.

Part of the store (its tables are declared with the others in data/store/__init__.py). A fit of one city's layer
and its forecasts are written in one transaction, and the city's forecast revision (meta
`forecast_rev:<city>`) moves with it: cached reads keyed on it never serve a replaced forecast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from data.store import _set_meta, forecast_fit, forecast_track, forecast_value, get_meta, read_frame

TRACK_DAYS = 2
VALUE_COLUMNS = ("sensor_id", "target", "origin", "value", "low", "high", "primary_pollutant")


def revision(engine: Engine, city: str) -> int:
    return int(get_meta(engine, f"forecast_rev:{city}") or 0)


def write_fit(
    engine: Engine,
    fit: Mapping[str, Any],
    values: Sequence[Mapping[str, Any]],
    track: Sequence[Mapping[str, Any]],
) -> int:
    """Record a fit, replace its city's layer forecasts with `values` (none when not served), add the
    `track` rows and drop tracked ones older than TRACK_DAYS: one transaction. Returns the fit id."""
    city, layer = fit["city"], fit["layer"]
    row = dict(fit, baselines=json.dumps(fit["baselines"]))
    with engine.begin() as conn:
        fit_id = int(conn.execute(forecast_fit.insert().values(**row)).inserted_primary_key[0])
        conn.execute(delete(forecast_value).where(forecast_value.c.city == city, forecast_value.c.layer == layer))
        if values:
            conn.execute(forecast_value.insert(), [dict(v, city=city, layer=layer, fit_id=fit_id) for v in values])
        cutoff = int(fit["fitted_at"]) - TRACK_DAYS * 86400
        tr = forecast_track.c
        conn.execute(delete(forecast_track).where(tr.city == city, tr.layer == layer, tr.target < cutoff))
        if track:
            keys = {(t["sensor_id"], t["target"]) for t in track}
            targets = sorted({k[1] for k in keys})
            conn.execute(  # a newer forecast of the same hour replaces the older one
                delete(forecast_track).where(tr.city == city, tr.layer == layer, tr.target.in_(targets))
            )
            conn.execute(forecast_track.insert(), [dict(t, city=city, layer=layer) for t in track])
        conn.execute(
            delete(forecast_fit).where(forecast_fit.c.city == city, forecast_fit.c.fitted_at < cutoff - 86400 * 5)
        )
        _set_meta(conn, f"forecast_rev:{city}", str(time.time_ns()))
    return fit_id


def values_at(engine: Engine, city: str, layer: str, target: int) -> pd.DataFrame:
    """The served forecast of each sensor for one target bucket (empty when none)."""
    v = forecast_value.c
    query = select(*(v[c] for c in VALUE_COLUMNS), v.fit_id).where(v.city == city, v.layer == layer, v.target == target)
    return read_frame(engine, query.order_by(v.sensor_id))


def values_between(engine: Engine, city: str, layer: str, first: int, last: int) -> pd.DataFrame:
    """Served forecasts of a city's layer for targets first..last (sensor_id, target, value, low, high)."""
    v = forecast_value.c
    query = select(v.sensor_id, v.target, v.value, v.low, v.high).where(
        v.city == city, v.layer == layer, v.target >= first, v.target <= last
    )
    return read_frame(engine, query.order_by(v.target, v.sensor_id))


def targets(engine: Engine, city: str, layer: str) -> list[int]:
    v = forecast_value.c
    with engine.connect() as conn:
        rows = conn.execute(select(v.target).where(v.city == city, v.layer == layer).distinct().order_by(v.target))
        return [int(r[0]) for r in rows]


def fits(engine: Engine, city: str | None = None, since: int = 0) -> pd.DataFrame:
    """Fits since `since` (of one city or all), newest first."""
    f = forecast_fit.c
    query = select(forecast_fit).where(f.fitted_at >= since)
    if city is not None:
        query = query.where(f.city == city)
    return read_frame(engine, query.order_by(f.fitted_at.desc(), f.id.desc()))


def latest_fits(engine: Engine) -> pd.DataFrame:
    """The newest fit of every city's layer."""
    f = forecast_fit.c
    newest = select(func.max(f.id).label("id")).group_by(f.city, f.layer).subquery()
    return read_frame(engine, select(forecast_fit).where(f.id.in_(select(newest.c.id))).order_by(f.city, f.layer))


def track(engine: Engine, city: str, layer: str, sensor_id: int, since: int) -> pd.DataFrame:
    tr = forecast_track.c
    query = select(tr.target, tr.origin, tr.value, tr.low, tr.high).where(
        tr.city == city, tr.layer == layer, tr.sensor_id == sensor_id, tr.target >= since
    )
    return read_frame(engine, query.order_by(tr.target))


def tracked_sensors(engine: Engine, city: str, layer: str) -> list[int]:
    tr = forecast_track.c
    with engine.connect() as conn:
        rows = conn.execute(select(tr.sensor_id).where(tr.city == city, tr.layer == layer).distinct())
        return sorted(int(r[0]) for r in rows)
