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


LAYER_SPECS: dict[str, LayerSpec] = {
    "parking": LayerSpec("parking", BUCKET_SECONDS, (1, 2, 3, 4), "free spaces", 60_000),
    "traffic": LayerSpec("traffic", BUCKET_SECONDS, (1, 2, 3, 4), "congestion index", 60_000),
    "air_quality": LayerSpec("air_quality", HOUR, tuple(range(1, 25)), "AQI", 60_000),
}
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
    sensors = store.sensors(engine, layer, city)
    ids = sensors["id"].to_numpy(dtype=np.int64)
    first = first // spec.step * spec.step
    n_rows = max(0, (last - first) // spec.step + 1)
    sensor_col = store.SENSOR_COLUMN[layer]
    columns = {
        "traffic": ("bucket", sensor_col, "speed_kmh"),
        "parking": ("bucket", sensor_col, "occupied"),
        "air_quality": ("bucket", sensor_col, *store.POLLUTANT_COLUMNS),
    }[layer]
    values = np.full((n_rows, len(ids)), np.nan)
    capacity = sensors["capacity"].to_numpy(dtype=float) if layer == "parking" else np.ones(len(ids))
    primary = np.full((n_rows, len(ids)), -1, dtype=int) if layer == "air_quality" else None
    # A day at a time: a week of a city's traffic is 1.4 M rows, ~400 MB as one frame of Python tuples.
    for chunk in range(first, last + 1, DAY):
        frame = store.observations_between(engine, layer, city, chunk, min(last, chunk + DAY - 1), columns)
        frame = frame[frame[sensor_col].isin(ids)]
        row = ((frame["bucket"].to_numpy(dtype=np.int64) - first) // spec.step).astype(int)
        col = np.searchsorted(ids, frame[sensor_col].to_numpy(dtype=np.int64))
        _fill(layer, sensors, frame, row, col, values, capacity, primary)
    kinds = {
        "traffic": lambda: _codes(sensors["road_class"], ROAD_CLASSES),
        "parking": lambda: _codes(sensors["kind"], LOT_KINDS),
        "air_quality": lambda: sensors["simulated"].astype(int).to_numpy(),
    }[layer]()
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
