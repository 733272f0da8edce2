"""Rolling-origin backtest: the model against the naive baselines on held-back days it never saw.

Fold k (k = 1..test_days) holds back the origins of one day, the k-th newest day whose targets are
all observed; the model is fitted only on rows whose target was observed by that day's first
origin. MAE over all folds; skill against the better baseline (the lower MAE of persistence, same
time yesterday and same time last week, the last only where the store holds a week more than the
horizon). A layer whose model does not beat that baseline is not served.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from data.forecast import features as ft
from data.forecast import model as fm
from data.forecast import skill as sk
from data.forecast.series import AQI_LAYERS, LAYER_SPECS, Panel

BASELINES = ("persistence", "yesterday", "last_week")
TEST_ROWS = 80_000  # scored rows per fold at most (a fixed-seed sample)


@dataclass
class Score:
    layer: str
    city: str
    model: str
    mae: float
    baselines: dict[str, float]
    better: str  # the better baseline's name
    skill: float
    hit_rate: float  # air quality: share of forecasts in the observed HJ 633 level (NaN elsewhere)
    coverage: float  # share of observations inside the 80 % interval
    n: int  # scored forecasts
    fold_skill: list[float] = field(default_factory=list)  # newest fold first

    @property
    def skills(self) -> dict[str, float]:
        """Skill against each baseline (NaN where the baseline could not be scored)."""
        return {name: sk.skill(self.mae, value) for name, value in self.baselines.items()}

    @property
    def served(self) -> bool:
        return not math.isnan(self.skill) and self.skill > 0


@dataclass
class Result:
    score: Score
    residuals: dict[int, tuple[float, float]]  # interval quantiles for the served model, by horizon


def _first_origin(panel: Panel) -> int:
    return ft.rows_per_day(panel.step)  # the first row with a "same time yesterday"


def fold_origins(panel: Panel, horizons: tuple[int, ...], test_days: int) -> list[np.ndarray]:
    """Origins of each held-back day, newest first; a fold needs a day of training origins before it."""
    per_day = ft.rows_per_day(panel.step)
    end = panel.values.shape[0] - max(horizons)  # origins whose every target is in the matrix
    folds = []
    for k in range(test_days):
        start = end - (k + 1) * per_day
        if start - per_day < _first_origin(panel):
            break
        folds.append(np.arange(start, start + per_day))
    return folds


def training_rows(panel: Panel, horizons: tuple[int, ...], before: int, limit: int, seed: int) -> ft.Rows:
    """Rows whose target row is at most `before` (observed when the forecast at `before` is made), at
    most `limit` of them drawn by a fixed seed (a week of traffic is 4 M candidates: never all built)."""
    origins = np.arange(_first_origin(panel), before)
    shape = (len(origins), len(panel.sensor_ids), len(horizons))
    total = int(np.prod(shape))
    if total > 2 * limit:
        picked = np.random.default_rng(seed).choice(total, size=2 * limit, replace=False)
        o, s, h = np.unravel_index(np.sort(picked), shape)
        rows = ft.Rows(origins[o], s, np.asarray(horizons)[h])
    else:
        rows = ft.grid(origins, len(panel.sensor_ids), horizons)
    keep = rows.origin + rows.horizon <= before
    return ft.sample(ft.Rows(rows.origin[keep], rows.sensor[keep], rows.horizon[keep]), limit, seed)


def backtest(panel: Panel, test_days: int | None = None, regressor: fm.Regressor | None = None) -> Result:
    spec = LAYER_SPECS[panel.layer]
    folds = fold_origins(panel, spec.horizons, test_days or spec.test_days)
    if not folds:
        raise ValueError(f"too little history to backtest {panel.layer} for {panel.city}")
    parts: list[dict[str, np.ndarray]] = []
    for k, origins in enumerate(folds):
        fitted = fm.fit(panel, training_rows(panel, spec.horizons, int(origins[0]), spec.train_rows, k), regressor)
        rows = ft.sample(ft.grid(origins, len(panel.sensor_ids), spec.horizons), TEST_ROWS, 100 + k)
        naive = ft.baselines(panel.values, rows, panel.step)
        point = fitted.predict(panel, rows)
        actual = ft.targets(panel.values, rows)
        # Scored where the model and the two always-available baselines have a value.
        ok = ~np.isnan(point) & ~np.isnan(actual) & ~np.isnan(naive["persistence"]) & ~np.isnan(naive["yesterday"])
        served = {name: panel.served(v[ok], rows.sensor[ok]) for name, v in naive.items()}
        parts.append(
            {
                "model": panel.served(point[ok], rows.sensor[ok]),
                "actual": panel.served(actual[ok], rows.sensor[ok]),
                "horizon": rows.horizon[ok],
                "origin": rows.origin[ok],
                "raw_model": point[ok],  # model units (parking: occupied share), for the intervals
                "raw_actual": actual[ok],
                "spread": fm.spread(panel, rows)[ok],
                **served,
            }
        )
    joined = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    baseline_maes = {}
    for name in BASELINES:  # last week only where every scored row has one
        values = joined[name]
        baseline_maes[name] = math.nan if np.isnan(values).any() else sk.mae(values, joined["actual"])
    better, better_mae = sk.better_baseline(baseline_maes)
    model_mae = sk.mae(joined["model"], joined["actual"])
    fold_skill = [sk.skill(sk.mae(p["model"], p["actual"]), sk.mae(p[better], p["actual"])) for p in parts]
    # Coverage of each fold's intervals taken from the other folds' residuals (never its own).
    inside = 0.0
    for k, part in enumerate(parts):
        quant = _quantiles([p for j, p in enumerate(parts) if j != k] or [part], panel.layer)
        lo, hi = fm.interval_offsets(quant, part["horizon"], part["spread"])
        inside += sk.coverage(part["raw_model"] + lo, part["raw_model"] + hi, part["raw_actual"]) * len(lo)
    score = Score(
        layer=panel.layer,
        city=panel.city,
        model=fm.version_for(panel.layer),
        mae=model_mae,
        baselines=baseline_maes,
        better=better,
        skill=sk.skill(model_mae, better_mae),
        hit_rate=_hit_rate(panel, joined),
        coverage=float(inside / max(1, len(joined["actual"]))),
        n=len(joined["actual"]),
        fold_skill=fold_skill,
    )
    return Result(score, _quantiles(parts, panel.layer))


def _hit_rate(panel: Panel, joined: dict[str, np.ndarray]) -> float:
    """Air quality: the share of forecasts in the observed HJ 633 level, per station-hour for +1..+24 h;
    for the +25..+72 h outlook, of the city's daily level (data/forecast/outlook.py's mean)."""
    if panel.layer == "aqi_outlook":
        target = panel.start + (joined["origin"] + joined["horizon"]) * panel.step
        return sk.daily_level_hit_rate(joined["origin"], target, joined["model"], joined["actual"])
    return sk.level_hit_rate(joined["model"], joined["actual"]) if panel.layer in AQI_LAYERS else math.nan


def _quantiles(parts: list[dict[str, np.ndarray]], layer: str) -> dict[int, tuple[float, float]]:
    """Interval quantiles (in spreads, model.spread) by horizon from the held-back residuals of `parts`."""
    res = np.concatenate([(p["raw_actual"] - p["raw_model"]) / p["spread"] for p in parts])
    horizons = np.concatenate([p["horizon"] for p in parts])
    return fm.residual_quantiles(res, horizons, symmetric=layer in fm.SPREAD_FLOOR)
