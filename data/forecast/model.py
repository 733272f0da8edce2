"""The forecasting models: one per layer and city, all sensors and horizons pooled.

Parking and traffic: scikit-learn's HistGradientBoostingRegressor, the horizon a feature. Air quality:
a ridge regression per horizon (few rows). Both learn the change from the origin's observation
(y - last): a model that learnt nothing is persistence. A day type (weekday / weekend) the trees
were not fitted on (the first Saturday after a week of weekdays) is forecast by persistence rather
than by weekday shapes. 80 % intervals are split-conformal, from out-of-sample residuals (the
backtest's held-back days), per horizon: parking and traffic point + the residuals' 10th and 90th
percentile; air quality point ± the 80th percentile of |residual| / spread, times the row's spread
(the origin's AQI, at least SPREAD_FLOOR). AQI errors are shared by a city's stations for a whole day
(an episode builds or clears) and grow with the level: a day's errors all lean one way, so one-sided
quantiles from other days missed whole days (coverage 0.12-0.71); symmetric and level-scaled they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from data.forecast import features as ft
from data.forecast.series import AQI_LAYERS, Panel

MODEL_VERSIONS = {"parking": "hgb-1", "traffic": "hgb-1", "air_quality": "ridge-h-1", "aqi_outlook": "ridge-h-1"}
INTERVAL = (0.10, 0.90)  # an 80 % interval
SPREAD_FLOOR = {
    "air_quality": 20.0,
    "aqi_outlook": 20.0,
}  # layers whose residuals scale with the level (AQI: never below 20)
BOUNDS = {"parking": (0.0, 1.0), "traffic": (1.0, np.inf), "air_quality": (0.0, 500.0), "aqi_outlook": (0.0, 500.0)}

Regressor = Callable[[], object]


_LINEAR = tuple(
    ft.FEATURES.index(c) for c in ("last", "prev", "recent", "day", "day_origin", "week", "hour_sin", "hour_cos")
)


class PerHorizonRidge(RegressorMixin, BaseEstimator):
    """A ridge regression per horizon (the first feature): the weight of yesterday's change grows with
    the hours ahead, which one linear model cannot say. For air quality, where rows are few (tens of
    stations, hourly) and boosted trees lost to it in the backtest."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, x: np.ndarray, y: np.ndarray) -> PerHorizonRidge:
        cols = list(_LINEAR)
        self.models_ = {
            h: Ridge(alpha=self.alpha).fit(x[x[:, 0] == h][:, cols], y[x[:, 0] == h]) for h in np.unique(x[:, 0])
        }
        self.pooled_ = Ridge(alpha=self.alpha).fit(x[:, cols], y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for h in np.unique(x[:, 0]):
            mask = x[:, 0] == h
            out[mask] = self.models_.get(h, self.pooled_).predict(x[mask][:, list(_LINEAR)])
        return out


def _uses_day_type(model: object) -> bool:
    return not isinstance(model, PerHorizonRidge)


def regressor_for(layer: str) -> Regressor:
    return PerHorizonRidge if layer in AQI_LAYERS else default_regressor


def version_for(layer: str) -> str:
    return MODEL_VERSIONS[layer]


def default_regressor() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(
        max_iter=120,
        learning_rate=0.1,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=[ft.KIND],
        early_stopping=False,
        random_state=0,
    )


@dataclass
class Fitted:
    layer: str
    regressor: object
    n_train: int
    day_types: frozenset[float] = frozenset({0.0, 1.0})  # weekday flags of the targets it was fitted on
    # horizon -> (low, high) residual quantiles; empty until calibrated
    residuals: dict[int, tuple[float, float]] = field(default_factory=dict)

    def predict(self, panel: Panel, rows: ft.Rows) -> np.ndarray:
        """Point forecasts (model units) of `rows`; NaN where the features lack the origin or yesterday."""
        x = ft.design(panel.values, panel.kinds, panel.start, panel.step, rows)
        out = np.full(len(rows), np.nan)
        ok = ft.usable(x)
        # A day type it never saw (the first Saturday after a week of weekdays): persistence, not a guess.
        unseen = ~np.isin(x[:, ft.FEATURES.index("weekday")], list(self.day_types))
        learnt = ok & ~unseen
        if learnt.any():
            out[learnt] = x[learnt, ft.FEATURES.index("last")] + self.regressor.predict(x[learnt])
        out[ok & unseen] = x[ok & unseen, ft.FEATURES.index("last")]
        low, high = BOUNDS[self.layer]
        return np.clip(out, low, high)

    def interval(
        self, point: np.ndarray, horizons: np.ndarray, scale: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The 80 % interval of each point: the calibrated quantiles (in spreads) times `scale` (spread())."""
        lo, hi = interval_offsets(self.residuals, horizons, scale)
        low, high = BOUNDS[self.layer]
        return np.clip(point + lo, low, high), np.clip(point + hi, low, high)


def interval_offsets(
    quantiles: dict[int, tuple[float, float]], horizons: np.ndarray, scale: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([quantiles.get(int(h), (np.nan, np.nan))[0] for h in horizons])
    hi = np.array([quantiles.get(int(h), (np.nan, np.nan))[1] for h in horizons])
    s = np.ones(len(lo)) if scale is None else np.asarray(scale, dtype=float)
    return lo * s, hi * s


def spread(panel: Panel, rows: ft.Rows) -> np.ndarray:
    """The scale of each row's error, known at its origin: the origin's level (at least the layer's floor)
    for layers in SPREAD_FLOOR, 1 elsewhere."""
    floor = SPREAD_FLOOR.get(panel.layer)
    if floor is None:
        return np.ones(len(rows))
    last = ft.lagged(panel.values, rows.origin, rows.sensor)
    return np.maximum(np.nan_to_num(last, nan=floor), floor)


def residual_quantiles(
    residuals: np.ndarray, horizons: np.ndarray, symmetric: bool = False
) -> dict[int, tuple[float, float]]:
    """Per horizon, the 10th and 90th percentile of actual - forecast (in spreads); `symmetric`: ± the
    80th percentile of its absolute value."""
    out = {}
    for h in np.unique(horizons):
        r = residuals[(horizons == h) & ~np.isnan(residuals)]
        if not len(r):
            continue
        if symmetric:
            q = float(np.quantile(np.abs(r), INTERVAL[1] - INTERVAL[0]))
            out[int(h)] = (-q, q)
        else:
            out[int(h)] = (float(np.quantile(r, INTERVAL[0])), float(np.quantile(r, INTERVAL[1])))
    return out


def fit(panel: Panel, rows: ft.Rows, regressor: Regressor | None = None) -> Fitted:
    """Fit on `rows` (those with a target, an origin observation and yesterday's value)."""
    x = ft.design(panel.values, panel.kinds, panel.start, panel.step, rows)
    y = ft.targets(panel.values, rows)
    ok = ft.usable(x, y)
    if ok.sum() < 100:
        raise ValueError(f"too little history to fit {panel.layer} for {panel.city}: {int(ok.sum())} rows")
    model = (regressor or regressor_for(panel.layer))()
    model.fit(x[ok], y[ok] - x[ok, ft.FEATURES.index("last")])
    # A day type counts as seen from a tenth of the rows (a few night hours of a Saturday are not one).
    flags = x[ok, ft.FEATURES.index("weekday")]
    seen = frozenset(float(v) for v in (0.0, 1.0) if np.mean(flags == v) >= 0.1 or not _uses_day_type(model))
    return Fitted(panel.layer, model, int(ok.sum()), day_types=seen)
