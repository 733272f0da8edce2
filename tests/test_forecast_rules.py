"""The forecast's pure parts with hand-computed numbers, and its one-way dependency on the store."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.forecast import backtest as bt
from data.forecast import features as ft
from data.forecast import model as fm
from data.forecast import skill as sk
from data.forecast.series import Panel

FORECAST_DIR = Path(__file__).resolve().parent.parent / "data" / "forecast"
STEP = 6 * 3600  # 4 rows a day keeps the hand-made matrices small
THU_0000_CST = 7 * 86400 - 8 * 3600  # 1970-01-08 00:00 CST was a Thursday


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def rows(origin, horizon, sensor=None) -> ft.Rows:
    origin = np.atleast_1d(origin)
    return ft.Rows(origin, np.zeros_like(origin) if sensor is None else np.atleast_1d(sensor), np.atleast_1d(horizon))


# --- features -------------------------------------------------------------------------------------


def test_lagged_is_nan_outside_the_matrix():
    values = col(1, 2, 3)
    out = ft.lagged(values, np.array([-1, 0, 2, 3]), np.zeros(4, dtype=int))
    assert np.isnan(out[0]) and np.isnan(out[3])
    assert out[1:3].tolist() == [1.0, 3.0]


def test_calendar_in_china_standard_time():
    # epoch 0 is Thursday 08:00 CST: a third of the way round the day; Saturday 12:00 CST is not a weekday
    s, c, weekday = ft.calendar(np.array([0, THU_0000_CST + 2 * 86400 + 12 * 3600]))
    assert s[0] == pytest.approx(math.sin(2 * math.pi / 3)) and c[0] == pytest.approx(-0.5)
    assert s[1] == pytest.approx(0.0, abs=1e-12) and c[1] == pytest.approx(-1.0)
    assert weekday.tolist() == [1.0, 0.0]


def test_baselines_persistence_yesterday_last_week():
    values = col(*range(40))  # 10 days of 4 rows: value = row number
    r = rows([30, 31], [1, 3])
    naive = ft.baselines(values, r, STEP)
    assert naive["persistence"].tolist() == [30, 31]
    assert naive["yesterday"].tolist() == [31 - 4, 34 - 4]  # the target's row a day (4 rows) earlier
    assert naive["last_week"].tolist() == [31 - 28, 34 - 28]
    early = ft.baselines(values, rows(5, 1), STEP)
    assert np.isnan(early["last_week"][0])  # no week stored before row 6


def test_design_columns_by_hand():
    values = col(10, 12, np.nan, 16, 20, 22, 24, 26)  # two days of 4 rows
    kinds = np.array([2])
    x = ft.design(values, kinds, THU_0000_CST, STEP, rows(5, 2))
    feat = dict(zip(ft.FEATURES, x[0], strict=True))
    assert feat["horizon_h"] == 12.0
    assert feat["last"] == 22 and feat["prev"] == 20
    assert feat["recent"] == pytest.approx((22 + 20 + 16) / 3)  # rows 5, 4, 3 known; 2 missing
    assert feat["day"] == 16  # target row 7 - 4
    assert feat["day_origin"] == 12  # origin row 5 - 4
    assert feat["week"] == 16  # no week stored: yesterday's value stands in
    assert feat["hour_sin"] == pytest.approx(-1.0)  # target row 7: Friday 18:00 CST
    assert feat["weekday"] == 1.0 and feat["kind"] == 2.0
    assert ft.targets(values, rows(5, 2)).tolist() == [26]


def test_usable_needs_origin_and_yesterday():
    values = col(1, np.nan, 3, 4, 5, 6)
    x = ft.design(values, np.array([0]), 0, STEP, rows([4, 5], [1, 1]))  # yesterday of row 6 is row 2; of row 5 row 1
    assert ft.usable(x).tolist() == [False, True]


def test_grid_and_sample():
    g = ft.grid(np.array([3, 4]), 2, (1, 2))
    assert len(g) == 8 and sorted(set(zip(g.origin, g.sensor, g.horizon, strict=True))) == sorted(
        (o, s, h) for o in (3, 4) for s in (0, 1) for h in (1, 2)
    )
    a, b = ft.sample(g, 5, seed=1), ft.sample(g, 5, seed=1)
    assert len(a) == 5 and a.origin.tolist() == b.origin.tolist()
    assert ft.sample(g, 100) is g


# --- skill ------------------------------------------------------------------------------------------


def test_mae_and_skill_by_hand():
    assert sk.mae(np.array([1, 2, 3]), np.array([2, 2, 5])) == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    assert sk.mae(np.array([1, np.nan]), np.array([3, 4])) == pytest.approx(2.0)  # NaN pairs left out
    assert math.isnan(sk.mae(np.array([np.nan]), np.array([1.0])))
    assert sk.skill(1.0, 2.0) == pytest.approx(0.5)
    assert sk.skill(3.0, 2.0) == pytest.approx(-0.5)
    assert math.isnan(sk.skill(1.0, 0.0))


def test_better_baseline_skips_unscored():
    assert sk.better_baseline({"persistence": 4.0, "yesterday": 3.0, "last_week": math.nan}) == ("yesterday", 3.0)
    with pytest.raises(ValueError):
        sk.better_baseline({"persistence": math.nan})


def test_aqi_levels_and_hit_rate_follow_hj633():
    # 50 excellent; 50.2 is published as 51 (rounded up): good; 300 heavily polluted; 301 severe
    assert sk.aqi_levels(np.array([50, 50.2, 100, 300, 301, np.nan])).tolist() == [1, 2, 2, 5, 6, 0]
    forecast, actual = np.array([40, 120, 160, 210]), np.array([55, 140, 150, 250])
    assert sk.level_hit_rate(forecast, actual) == pytest.approx(0.5)  # 120/140 and 210/250 agree


def test_coverage_by_hand():
    low, high = np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1])
    assert sk.coverage(low, high, np.array([0, 1, 2, np.nan])) == pytest.approx(2 / 3)


def test_residual_quantiles_per_horizon():
    residuals = np.concatenate([np.arange(11.0), -np.arange(11.0)])
    horizons = np.array([1] * 11 + [2] * 11)
    q = fm.residual_quantiles(residuals, horizons)
    assert q[1] == pytest.approx((1.0, 9.0)) and q[2] == pytest.approx((-9.0, -1.0))


def test_symmetric_quantiles_scaled_by_the_spread():
    # |residual| 0..10 (in spreads): its 80th percentile is 8, so the interval is point ± 8 spreads
    residuals = np.concatenate([np.arange(6.0), -np.arange(6.0, 11.0)])
    q = fm.residual_quantiles(residuals, np.ones(11, dtype=int), symmetric=True)
    assert q[1] == pytest.approx((-8.0, 8.0))
    lo, hi = fm.interval_offsets(q, np.array([1, 1, 2]), np.array([20.0, 50.0, 20.0]))
    assert lo[:2] == pytest.approx([-160.0, -400.0]) and hi[:2] == pytest.approx([160.0, 400.0])
    assert math.isnan(lo[2])  # no quantile for that horizon: no interval
    # the spread of an AQI row is its origin's AQI, never below 20; parking's is 1
    values = col(10.0, 80.0, math.nan)
    aq = Panel("air_quality", "x", 0, STEP, np.array([1]), np.zeros(1, int), values, np.ones(1))
    assert fm.spread(aq, rows([0, 1, 2], 1)) == pytest.approx([20.0, 80.0, 20.0])
    lots = Panel("parking", "x", 0, STEP, np.array([1]), np.zeros(1, int), values, np.ones(1))
    assert fm.spread(lots, rows([0, 1], 1)) == pytest.approx([1.0, 1.0])


def test_daily_level_hit_rate_by_hand():
    day = 86400
    midnight = 10 * day - 8 * 3600  # a CST midnight
    origin = np.array([0, 0, 0, 0, 1, 1])
    target = np.array([midnight + 3600, midnight + 7200, midnight + day + 3600, midnight + day + 7200,
                       midnight + 3600, midnight + 7200])  # fmt: skip
    # origin 0, first day: means 60 vs 55 (both 良 Good): hit; second day: 140 vs 90 (轻度 vs 良): miss;
    # origin 1, first day: 45 vs 52 (优 vs 良): miss; a NaN pair is left out
    forecast = np.array([50.0, 70.0, 130.0, 150.0, 45.0, np.nan])
    actual = np.array([50.0, 60.0, 80.0, 100.0, 52.0, 300.0])
    assert sk.daily_level_hit_rate(origin, target, forecast, actual) == pytest.approx(1 / 3)


def test_skill_against_each_baseline():
    score = bt.Score("parking", "x", "m", 8.0, {"persistence": 10.0, "yesterday": 16.0, "last_week": math.nan},
                     "persistence", 0.2, math.nan, 0.8, 10)  # fmt: skip
    skills = score.skills
    assert skills["persistence"] == pytest.approx(0.2) and skills["yesterday"] == pytest.approx(0.5)
    assert math.isnan(skills["last_week"])


# --- model and backtest on a tiny panel -------------------------------------------------------------


class Constant:
    """A regressor that learnt a constant change (+0.5)."""

    def fit(self, x, y):
        return self

    def predict(self, x):
        return np.full(len(x), 0.5)


def panel_of(values: np.ndarray, start: int = THU_0000_CST) -> Panel:
    n = values.shape[1]
    return Panel("traffic", "hangzhou", start, STEP, np.arange(n), np.zeros(n, dtype=int), values, np.ones(n))


def test_model_learns_the_change_from_last_and_falls_back_on_an_unseen_day_type():
    values = np.tile(np.arange(1.0, 41.0).reshape(-1, 1), (1, 5))  # 10 days from a Thursday, 5 sensors
    panel = panel_of(values)
    train = ft.grid(np.arange(3, 7), 5, (1,))  # targets rows 4-7: Friday only
    fitted = fm.fit(panel, ft.Rows(*(np.tile(a, 6) for a in (train.origin, train.sensor, train.horizon))), Constant)
    assert fitted.day_types == frozenset({1.0})
    friday, saturday = rows(5, 1), rows(9, 1)  # row 10 is Saturday 12:00
    assert fitted.predict(panel, friday).tolist() == [6 + 0.5]
    assert fitted.predict(panel, saturday).tolist() == [10.0]  # persistence: no Saturday learnt


def test_fold_origins_hold_back_the_newest_days():
    panel = panel_of(np.ones((40, 1)))  # 10 days of 4 rows
    folds = bt.fold_origins(panel, (1, 2), test_days=2)
    assert [f.tolist() for f in folds] == [[34, 35, 36, 37], [30, 31, 32, 33]]  # end = 40 - 2
    rows_ = bt.training_rows(panel, (1, 2), before=30, limit=10_000, seed=0)
    assert (rows_.origin + rows_.horizon).max() == 30 and rows_.origin.min() == 4


# --- the forecast reads only the store ------------------------------------------------------------

ALLOWED = ("data.store", "data.rules", "data.forecast", "data.config", "data.geo.cities")


def test_forecast_modules_import_only_the_store_and_rules():
    for path in sorted(FORECAST_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                # `from data import store` names the module data.store
                names = [f"data.{a.name}" for a in node.names] if node.module == "data" else [node.module]
            for name in names:
                if name.startswith("data."):
                    assert name.startswith(ALLOWED), (path.name, name)


def test_importing_the_forecast_loads_neither_simulator_nor_jobs():
    code = (
        "import sys, data.forecast.backtest, cli.forecast, data.forecast.series;"
        "print(sorted(m for m in sys.modules if m.startswith(('data.sim', 'data.jobs', 'data.access'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=FORECAST_DIR.parents[1]
    )
    assert out.stdout.strip() == "[]", out.stdout
