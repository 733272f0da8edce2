"""Stored observations of one layer and city as a (time x sensor) matrix: what the models learn from.

Reads only the store (data/store) and converts with the domain rules (data/rules), so the same
code runs on a real city's feeds. The values are in the unit a forecast is served in, except parking,
which is learnt as the occupied share (lots of every size alike) and served as free spaces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from data import store
from data.rules import aqi as aqi_rules
from data.rules.clock import BUCKET_SECONDS, DAY, HOUR


@dataclass(frozen=True)
class LayerSpec:
    layer: str
    step: int  # seconds between rows
    horizons: tuple[int, ...]  # rows ahead the layer is forecast
    unit: str
    train_rows: int  # at most this many (origin, sensor, horizon) rows per fit: bounds its cost
    test_days: int = 2  # held-back days (folds) of the backtest; their residuals calibrate the intervals
    source: str = ""  # the observed layer it forecasts, when not its own name (the AQI outlook)

    @property
    def observed(self) -> str:
        return self.source or self.layer


LAYER_SPECS: dict[str, LayerSpec] = {
    "parking": LayerSpec("parking", BUCKET_SECONDS, (1, 2, 3, 4), "free spaces", 60_000),
    "traffic": LayerSpec("traffic", BUCKET_SECONDS, (1, 2, 3, 4), "congestion index", 60_000),
    # Air quality: 4 folds (a ridge fit is cheap), as its errors change from day to day and calibrate on days.
    "air_quality": LayerSpec("air_quality", HOUR, tuple(range(1, 25)), "AQI", 60_000, test_days=3),
    # Hours 25-72 of air quality: a model of its own (fitted, backtested and served or not on its own), as one
    # spec with horizons to 72 h would hold back days three days older and learn the first day from less.
    "aqi_outlook": LayerSpec("aqi_outlook", HOUR, tuple(range(25, 73)), "AQI", 60_000, source="air_quality"),
}
AQI_LAYERS = ("air_quality", "aqi_outlook")
ROAD_CLASSES = ("motorway", "primary", "secondary", "local")
LOT_KINDS = ("commercial", "office", "residential", "on_street")


@dataclass(frozen=True)
class Panel:
    layer: str
    city: str
    start: int  # epoch second of row 0
    step: int
    sensor_ids: np.ndarray  # (S,)
    kinds: np.ndarray  # (S,) category code of each sensor
    values: np.ndarray  # (T, S): congestion index, occupied share or AQI; NaN = not observed
    capacity: np.ndarray  # (S,) car-park spaces (1 elsewhere)
    primary: np.ndarray | None = None  # (T, S) air quality: index into aqi.POLLUTANTS of the primary pollutant, -1 none

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(self.values.shape[0]) * self.step

    def row_of(self, t: int) -> int:
        return (int(t) - self.start) // self.step

    def served(self, values: np.ndarray, sensors: np.ndarray) -> np.ndarray:
        """Model values in the unit served: free spaces for parking, unchanged elsewhere."""
        if self.layer != "parking":
            return values
        return self.capacity[sensors] * (1.0 - np.clip(values, 0.0, 1.0))


def _codes(column: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    return column.map({n: k for k, n in enumerate(names)}).fillna(len(names)).to_numpy(dtype=int)


def load(engine: Engine, layer: str, city: str, first: int, last: int) -> Panel:
    """Observations of buckets first..last (inclusive) of one city's layer as a Panel."""
    spec = LAYER_SPECS[layer]
    observed = spec.observed
    sensors = store.sensors(engine, observed, city)
    ids = sensors["id"].to_numpy(dtype=np.int64)
    first = first // spec.step * spec.step
    n_rows = max(0, (last - first) // spec.step + 1)
    sensor_col = store.SENSOR_COLUMN[observed]
    columns = {
        "traffic": ("bucket", sensor_col, "speed_kmh"),
        "parking": ("bucket", sensor_col, "occupied"),
        "air_quality": ("bucket", sensor_col, *store.POLLUTANT_COLUMNS),
    }[observed]
    values = np.full((n_rows, len(ids)), np.nan)
    capacity = sensors["capacity"].to_numpy(dtype=float) if layer == "parking" else np.ones(len(ids))
    primary = np.full((n_rows, len(ids)), -1, dtype=int) if observed == "air_quality" else None
    # A day at a time: a week of a city's traffic is 1.4 M rows, ~400 MB as one frame of Python tuples.
    for chunk in range(first, last + 1, DAY):
        frame = store.observations_between(engine, observed, city, chunk, min(last, chunk + DAY - 1), columns)
        frame = frame[frame[sensor_col].isin(ids)]
        row = ((frame["bucket"].to_numpy(dtype=np.int64) - first) // spec.step).astype(int)
        col = np.searchsorted(ids, frame[sensor_col].to_numpy(dtype=np.int64))
        _fill(observed, sensors, frame, row, col, values, capacity, primary)
    kinds = {
        "traffic": lambda: _codes(sensors["road_class"], ROAD_CLASSES),
        "parking": lambda: _codes(sensors["kind"], LOT_KINDS),
        "air_quality": lambda: sensors["simulated"].astype(int).to_numpy(),
    }[observed]()
    return Panel(layer, city, first, spec.step, ids, kinds, values, capacity, primary)


def _fill(
    layer: str,
    sensors: pd.DataFrame,
    frame: pd.DataFrame,
    row: np.ndarray,
    col: np.ndarray,
    values: np.ndarray,
    capacity: np.ndarray,
    primary: np.ndarray | None,
) -> None:
    """Write one chunk of observations into the matrix, in the unit the layer is learnt in."""
    if layer == "traffic":
        free_flow = sensors["free_flow_kmh"].to_numpy(dtype=float)[col]
        speed = frame["speed_kmh"].to_numpy(dtype=float)
        # The congestion index rule (free flow / speed, never below 1), vectorised.
        values[row, col] = np.maximum(1.0, free_flow / np.maximum(speed, 0.1))
    elif layer == "parking":
        values[row, col] = frame["occupied"].to_numpy(dtype=float) / capacity[col]
    else:
        assert primary is not None
        for k, record in enumerate(frame[list(store.POLLUTANT_COLUMNS)].itertuples(index=False)):
            result = aqi_rules.hourly_aqi({p: v for p, v in zip(store.POLLUTANT_COLUMNS, record, strict=True)})
            if result.aqi is not None:
                values[row[k], col[k]] = result.aqi
                if result.primary:
                    primary[row[k], col[k]] = aqi_rules.POLLUTANTS.index(result.primary[0])
