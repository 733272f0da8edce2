"""Backtest on a fixed stored history: each served model beats the better naive baseline on held-back
days it never saw, and the same check fails when the model is replaced by persistence.

The history is the simulator's (deterministic in city, sensor and time) for a fixed `now`, a
Thursday 15:00 CST, in a store of its own written as `python -m cli.forecast backtest --simulated-days`
writes it: Hangzhou's 16 days (enough to score "same time last week" on every held-back day) and
Beijing's last 26 hours (too little to fit).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cli import forecast as cli
from data import store
from data.forecast import backtest as bt
from data.forecast import model as fm
from data.forecast import series

NOW = 1795676400  # Thursday 2026-11-26 15:00 CST
CITY = "hangzhou"
MUST_SERVE = ("parking", "traffic")  # on this history; air quality may lose to persistence
HISTORY_DAYS = 16


@pytest.fixture(scope="module", autouse=True)
def one_core():
    """Fits on one core, as the background job does (OpenMP threads on a shared machine only spin)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from data.geo.cities import get_city
    from data.sim import simulate  # the test builds the history; the forecast code never sees the simulator

    engine = cli.simulated_store(tmp_path_factory.mktemp("forecast"), [CITY], HISTORY_DAYS, NOW, lambda _m: None)
    simulate.ensure_sensors(engine, get_city("beijing"), lambda _m: None)
    simulate.advance_city(engine, get_city("beijing"), NOW, None, 26 / 24)
    return engine


@pytest.fixture(scope="module")
def panels(engine):
    out = {}
    for layer, spec in series.LAYER_SPECS.items():
        oldest, newest = store.observation_bucket_range(engine, spec.observed, CITY)
        out[layer] = series.load(engine, layer, CITY, oldest, newest)
    return out


def check_served_models_beat_baselines(scores: dict[str, bt.Score]) -> None:
    for layer in MUST_SERVE:
        assert scores[layer].served, scores[layer]
    for score in scores.values():
        if score.served:
            best = min(v for v in score.baselines.values() if not math.isnan(v))
            assert score.mae < best, score
            # better over all held-back days, and on most of them (one day of a turning pollution episode
            # may be lost: the verdict is the days' total, as the issue asks)
            assert score.skill > 0 and sum(s > 0 for s in score.fold_skill) > len(score.fold_skill) / 2, score


class NoChange:
    """Persistence as a regressor: the forecast change from the origin's observation is always 0."""

    def fit(self, x, y):
        return self

    def predict(self, x):
        return np.zeros(len(x))


@pytest.fixture(scope="module")
def scored(panels):
    """Each layer's backtest (computed once: the fits are the slow part), and the newest target each fit saw."""
    newest_target: list[int] = []
    fit = fm.fit

    def recording_fit(panel, rows, regressor=None):
        newest_target.append(int((rows.origin + rows.horizon).max()))
        return fit(panel, rows, regressor)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fm, "fit", recording_fit)
        scores = {layer: bt.backtest(panel).score for layer, panel in panels.items()}
    return scores, newest_target


def test_served_models_beat_the_better_baseline_on_held_back_days(panels, scored):
    scores, newest_target = scored
    check_served_models_beat_baselines(scores)
    # every fit saw only targets observed by its fold's first held-back origin
    folds = [
        f
        for layer, p in panels.items()
        for f in bt.fold_origins(p, series.LAYER_SPECS[layer].horizons, series.LAYER_SPECS[layer].test_days)
    ]
    assert len(newest_target) == len(folds)
    assert all(newest <= int(f[0]) for newest, f in zip(newest_target, folds, strict=True))
    for layer in MUST_SERVE:
        assert scores[layer].n > 10_000, scores[layer]
    aq = scores["air_quality"]
    assert 0 <= aq.hit_rate <= 1 and aq.n > 1000


def test_every_baseline_is_scored_and_the_better_one_is_the_lowest(scored):
    for score in scored[0].values():
        assert set(score.baselines) == set(bt.BASELINES) and not any(math.isnan(v) for v in score.baselines.values())
        assert score.baselines[score.better] == min(score.baselines.values()), score
        skills = score.skills
        assert skills[score.better] == pytest.approx(score.skill)
        assert all(skills[name] >= score.skill for name in bt.BASELINES), score  # the better one is the hardest


def test_the_80_percent_intervals_cover_about_80_percent_of_held_back_observations(scored):
    """Each layer's intervals, calibrated on the other held-back days, on the day they were held back from."""
    for score in scored[0].values():
        assert 0.7 <= score.coverage <= 0.9, score


def test_the_check_fails_when_the_model_is_persistence(panels, monkeypatch):
    monkeypatch.setattr(fm, "regressor_for", lambda layer: NoChange)
    scores = {layer: bt.backtest(panel).score for layer, panel in panels.items()}
    assert all(s.skill <= 1e-12 and not s.served for s in scores.values()), scores
    with pytest.raises(AssertionError):
        check_served_models_beat_baselines(scores)


def test_cli_prints_the_table(engine, monkeypatch, capsys):
    monkeypatch.setattr(store, "get_engine", lambda url=None: engine)
    assert cli.main(["backtest", "--city", CITY, "--layer", "air_quality"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[1].split()
    assert header[:4] == ["layer", "city", "model", "MAE"] and {"sk_pers", "sk_yest", "sk_week"} <= set(header)
    row = out[2].split()
    assert row[:3] == ["air_quality", CITY, "ridge-h-1"] and ("served" in out[2] or "baseline better" in out[2])
    sk_week = float(row[header.index("sk_week")])  # last week scored: a number, not "-"
    assert -5 < sk_week < 1
    with pytest.raises(SystemExit):
        cli.main(["backtest", "--city", "atlantis"])


# --- fitted, stored and served through the cached data layer ------------------------------------------


@pytest.fixture(scope="module")
def served(engine):
    """Parking and air quality fitted on the fixed history and stored, read through data/access.py."""
    from flask import Flask

    from data import access
    from data.config import load_settings
    from data.forecast import run

    fits = {layer: run.fit_layer(engine, CITY, layer, now=NOW) for layer in ("parking", "air_quality")}
    server = Flask("forecast-test")
    access.cache.init_app(server, config=access.cache_config(load_settings()))
    with pytest.MonkeyPatch.context() as patch, server.app_context():
        patch.setattr(access, "_engine", lambda: engine)
        yield fits, access


def test_a_fit_is_stored_with_version_time_and_its_forecasts_are_served(served, engine):
    from data.store import forecasts as fstore

    fits, access = served
    fit = fits["parking"]
    assert fit["served"] and fit["model"] == "hgb-1" and fit["fitted_at"] == NOW and fit["train_rows"] > 10_000
    newest = store.observation_bucket_range(engine, "parking", CITY)[1]
    assert fit["history_to"] == newest and newest - fit["history_from"] >= 6 * 86400
    lots = store.sensors(engine, "parking", CITY)
    for ahead in (1, 4):  # +15 and +60 minutes after the newest observation
        step = access.forecast_values(CITY, "parking", newest + ahead * store.BUCKET_SECONDS)
        assert step["served"] and step["model"] == "hgb-1" and step["origin"] == newest
        assert len(step["value"]) == len(lots) and step["n"] == len(lots)
        for value, low, high, capacity in zip(step["value"], step["low"], step["high"], lots["capacity"], strict=True):
            assert 0 <= low <= value <= high <= capacity
    assert access.forecast_horizon(CITY)["parking"] == newest + 4 * store.BUCKET_SECONDS
    # nothing beyond the horizon, and an unknown layer is refused
    beyond = access.forecast_values(CITY, "parking", newest + 5 * store.BUCKET_SECONDS)
    assert beyond["n"] == 0 and all(v is None for v in beyond["value"])
    with pytest.raises(ValueError):
        access.forecast_values(CITY, "incidents", newest)
    # the next-hour forecasts of a few lots are tracked
    tracked = fstore.tracked_sensors(engine, CITY, "parking")
    assert len(tracked) == 20 and tracked == sorted(lots["id"].head(20).tolist())


def test_a_layer_that_loses_to_its_baseline_serves_no_forecast(served, engine):
    fits, access = served
    aq = fits["air_quality"]
    newest = store.observation_bucket_range(engine, "air_quality", CITY)[1]
    step = access.forecast_values(CITY, "air_quality", newest + 3600)
    if aq["served"]:  # this history decides; either way what is served follows the verdict
        assert step["served"] and step["n"] == len(store.sensors(engine, "air_quality", CITY))
        assert all(p in (None, "pm25", "pm10", "o3", "no2", "so2", "co") for p in step["primary"])
    else:
        assert not step["served"] and step["reason"] == "baseline better" and step["n"] == 0
    quality = access.model_quality(NOW - 3600)
    assert {(f["city"], f["layer"]) for f in quality["latest"]} >= {(CITY, "parking"), (CITY, "air_quality")}


def test_the_job_skips_a_city_with_too_little_history_and_can_be_switched_off(engine, monkeypatch, caplog):
    from data.config import load_settings
    from data.jobs import forecasting

    monkeypatch.setattr(forecasting, "CITIES", {"beijing": None})  # 26 hours stored: not two days
    beats = []
    with caplog.at_level("INFO", logger=forecasting.__name__):
        assert forecasting.fit_all(engine, now=NOW, beat=lambda: beats.append(1)) == []
    n_layers = len(series.LAYER_SPECS)
    assert len(beats) == n_layers and caplog.text.count("too little history") == n_layers
    monkeypatch.setenv("FORECASTS", "0")
    assert forecasting.start(load_settings()) is False
