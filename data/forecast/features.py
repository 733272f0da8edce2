"""Calendar and lag features, and the naive baselines, from a (time x sensor) matrix of observations.

Pure functions on numpy arrays: row `o` of `values` is the observation at `start + o * step`, a
column is one sensor, NaN is a missing observation. A forecast is made at an origin row `o` (the
newest observation it may use) for the target row `o + h` (h = horizon in rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.rules.clock import CST, DAY, HOUR

FEATURES = (
    "horizon_h",  # hours ahead
    "last",  # the origin's observation (persistence)
    "prev",  # one row before the origin
    "recent",  # mean of the origin's last 4 observations: the level with less of each reading's noise
    "day",  # same time yesterday, for the target (seasonal naive); beyond a day ahead, the newest observed day
    "day_origin",  # same time yesterday, for the origin: day - day_origin is yesterday's change
    "week",  # same time last week, for the target; yesterday's while the store holds less
    "hour_sin",  # the target's hour of day (China Standard Time) on the circle
    "hour_cos",
    "weekday",  # the target falls on Monday-Friday
    "kind",  # the sensor's class (road class, car-park kind, station): a category code
)
KIND = FEATURES.index("kind")


@dataclass(frozen=True)
class Rows:
    """Which (origin row, sensor column, horizon) triples a design matrix holds, aligned arrays."""

    origin: np.ndarray
    sensor: np.ndarray
    horizon: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)


def rows_per_day(step: int) -> int:
    if DAY % step:
        raise ValueError(f"step {step} s does not divide a day")
    return DAY // step


def lagged(values: np.ndarray, rows: np.ndarray, sensors: np.ndarray) -> np.ndarray:
    """values[rows, sensors], NaN where a row falls outside the matrix."""
    inside = (rows >= 0) & (rows < values.shape[0])
    out = np.full(len(rows), np.nan)
    out[inside] = values[rows[inside], sensors[inside]]
    return out


def recent_mean(values: np.ndarray, rows: Rows, n: int) -> np.ndarray:
    """Mean of the observations at origin, origin - 1, .., origin - n + 1 (those known; NaN if none)."""
    stacked = np.column_stack([lagged(values, rows.origin - k, rows.sensor) for k in range(n)])
    known = (~np.isnan(stacked)).sum(axis=1)
    total = np.nansum(stacked, axis=1)
    return np.where(known > 0, total / np.maximum(known, 1), np.nan)


def calendar(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sin, cos) of the hour of day in China Standard Time, and 1.0 on Monday-Friday, for epoch seconds `t`."""
    local = np.asarray(t, dtype=np.int64) + CST
    angle = 2 * np.pi * (local % DAY) / DAY
    weekday = ((local // DAY + 3) % 7) < 5  # 1970-01-01 was a Thursday
    return np.sin(angle), np.cos(angle), weekday.astype(float)


def day_lag(horizon: np.ndarray, per_day: int) -> np.ndarray:
    """Rows back from the target to the same time on the newest day observed at the origin: a day for
    horizons up to a day, two for the second day ahead, and so on."""
    return np.maximum(1, -(-np.asarray(horizon) // per_day)) * per_day


def baselines(values: np.ndarray, rows: Rows, step: int) -> dict[str, np.ndarray]:
    """The naive forecasts of each row: persistence, same time yesterday (the newest observed day, for
    horizons beyond a day), same time last week."""
    per_day = rows_per_day(step)
    target = rows.origin + rows.horizon
    return {
        "persistence": lagged(values, rows.origin, rows.sensor),
        "yesterday": lagged(values, target - day_lag(rows.horizon, per_day), rows.sensor),
        "last_week": lagged(values, target - 7 * per_day, rows.sensor),
    }


def design(values: np.ndarray, kinds: np.ndarray, start: int, step: int, rows: Rows) -> np.ndarray:
    """The feature matrix (len(rows) x len(FEATURES)) of `rows`; columns in the order of FEATURES."""
    per_day = rows_per_day(step)
    target = rows.origin + rows.horizon
    naive = baselines(values, rows, step)
    hour_sin, hour_cos, weekday = calendar(start + target * step)
    return np.column_stack(
        [
            rows.horizon * step / HOUR,
            naive["persistence"],
            lagged(values, rows.origin - 1, rows.sensor),
            recent_mean(values, rows, 4),
            naive["yesterday"],
            lagged(values, rows.origin - per_day, rows.sensor),
            np.where(np.isnan(naive["last_week"]), naive["yesterday"], naive["last_week"]),
            hour_sin,
            hour_cos,
            weekday,
            kinds[rows.sensor].astype(float),
        ]
    )


def targets(values: np.ndarray, rows: Rows) -> np.ndarray:
    return lagged(values, rows.origin + rows.horizon, rows.sensor)


def grid(origins: np.ndarray, n_sensors: int, horizons: tuple[int, ...]) -> Rows:
    """Every (origin, sensor, horizon) combination."""
    o, s, h = np.meshgrid(np.asarray(origins), np.arange(n_sensors), np.asarray(horizons), indexing="ij")
    return Rows(o.ravel(), s.ravel(), h.ravel())


def sample(rows: Rows, limit: int, seed: int = 0) -> Rows:
    """At most `limit` of `rows`, drawn without replacement by a fixed seed (fitting cost is bounded)."""
    if len(rows) <= limit:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=limit, replace=False))
    return Rows(rows.origin[keep], rows.sensor[keep], rows.horizon[keep])


def usable(features: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Rows with an origin observation and yesterday's value (and a target, when given)."""
    ok = ~np.isnan(features[:, FEATURES.index("last")]) & ~np.isnan(features[:, FEATURES.index("day")])
    return ok if y is None else ok & ~np.isnan(y)
